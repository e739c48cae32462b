//! The corpus generator: record `i` of seed `s` is always the same record, whatever order or
//! batch size records are made in, so builds can run in parallel and peers get identical text.
//!
//! A record is abstract-sized (about 200–260 words, 1.4–1.9 kB of abstract), with a title written
//! from templates per evidence level, 2–4 topics (MeSH descriptors, Zipf-ranked, the most
//! written-about clinical topics first), MeSH terms and check tags, keywords, authors, a journal,
//! a year skewed to recent, identifiers and a source that fits the level (guidelines from NICE
//! and SIGN, reviews from Cochrane, trials from ClinicalTrials.gov...). Words follow a Zipf law
//! over the vocabulary, with topical burstiness: each record draws a small local word set and
//! reuses it, so term frequencies within a record are realistic too.

use std::sync::Arc;

use model::{Audience, EvidenceLevel, PartialDate, Record};
use rayon::prelude::*;

use crate::rng::{Rng, Zipf};
use crate::vocab::{Topic, Vocab, JOURNALS, STOP_WORDS, SURNAMES};

/// Evidence levels with their share of the corpus.
const LEVELS: &[(EvidenceLevel, f64)] = &[
    (EvidenceLevel::Other, 0.33),
    (EvidenceLevel::Observational, 0.25),
    (EvidenceLevel::Rct, 0.12),
    (EvidenceLevel::SystematicReview, 0.09),
    (EvidenceLevel::CaseReport, 0.09),
    (EvidenceLevel::Opinion, 0.05),
    (EvidenceLevel::Guideline, 0.04),
    (EvidenceLevel::PatientInformation, 0.03),
];

/// Every source name the generator uses.
pub const SOURCES: &[&str] = &[
    "pubmed",
    "europepmc",
    "cochrane",
    "clinicaltrials",
    "nice",
    "sign",
    "nhs-conditions",
    "medlineplus",
];

const POPULATIONS: &[&str] = &[
    "adults",
    "children",
    "older adults",
    "pregnant women",
    "primary care",
    "hospitalised patients",
    "intensive care",
    "infants",
    "adolescents",
    "care home residents",
];

const CHECK_TAGS: &[(&str, f64)] = &[
    ("Humans", 0.95),
    ("Female", 0.55),
    ("Male", 0.5),
    ("Adult", 0.45),
    ("Middle Aged", 0.4),
    ("Aged", 0.35),
    ("Child", 0.15),
    ("Infant", 0.06),
];

/// The deterministic record generator.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    vocab: Arc<Vocab>,
    words: Zipf,
    topics: Zipf,
}

impl Generator {
    /// A generator over a vocabulary.
    pub fn new(seed: u64, vocab: Vocab) -> Self {
        let words = Zipf::new(vocab.words.len(), 1.0);
        let topics = Zipf::new(vocab.topics.len(), 1.05);
        Generator {
            seed,
            vocab: Arc::new(vocab),
            words,
            topics,
        }
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Records `range`, made in parallel.
    pub fn records(&self, range: std::ops::Range<u64>) -> Vec<Record> {
        range.into_par_iter().map(|i| self.record(i)).collect()
    }

    fn topic(&self, rng: &mut Rng) -> &Topic {
        &self.vocab.topics[self.topics.sample(rng)]
    }

    fn word(&self, rng: &mut Rng) -> &str {
        &self.vocab.words[self.words.sample(rng)]
    }

    /// Record `i`.
    pub fn record(&self, i: u64) -> Record {
        let mut rng = Rng::for_item(self.seed, i);
        let level = {
            let u = rng.f64();
            let mut acc = 0.0;
            let mut chosen = EvidenceLevel::Other;
            for (l, p) in LEVELS {
                acc += p;
                if u < acc {
                    chosen = *l;
                    break;
                }
            }
            chosen
        };
        let n_topics = rng.range(2, 4);
        let mut topics: Vec<&Topic> = Vec::with_capacity(n_topics);
        for _ in 0..n_topics * 3 {
            if topics.len() == n_topics {
                break;
            }
            let t = self.topic(&mut rng);
            if !topics.iter().any(|x| x.name == t.name) {
                topics.push(t);
            }
        }
        let local: Vec<&str> = (0..rng.range(8, 16)).map(|_| self.word(&mut rng)).collect();
        let pop = *rng.pick(POPULATIONS);

        let title = self.title(&mut rng, level, &topics, pop);
        let abstract_text = self.abstract_text(&mut rng, level, &topics, &local, pop);
        let source = source_for(&mut rng, level);
        let mut r = Record::new(source, &(20_000_000 + i).to_string(), &title);
        r.abstract_text = Some(abstract_text);
        r.evidence_level = Some(level);
        r.audience = if level == EvidenceLevel::PatientInformation {
            Audience::Patient
        } else {
            Audience::Professional
        };
        r.publication_types = pubtypes(level).iter().map(|s| s.to_string()).collect();
        let year = 2025 - (35.0 * rng.f64().powi(2)) as i32;
        let month = rng.chance(0.8).then(|| rng.range(1, 12) as u8);
        let day = month.and_then(|_| rng.chance(0.5).then(|| rng.range(1, 28) as u8));
        r.published = PartialDate::from_parts(year, month, day).ok();
        let n_auth =
            if level == EvidenceLevel::Guideline || level == EvidenceLevel::PatientInformation {
                0
            } else {
                rng.range(1, 8)
            };
        r.authors = (0..n_auth)
            .map(|_| {
                let a = (b'A' + rng.range(0, 25) as u8) as char;
                let b = (b'A' + rng.range(0, 25) as u8) as char;
                format!("{} {a}{b}", rng.pick(SURNAMES))
            })
            .collect();
        match source {
            "nice" => r.publisher = Some(JOURNALS[JOURNALS.len() - 2].to_string()),
            "sign" => r.publisher = Some(JOURNALS[JOURNALS.len() - 1].to_string()),
            "nhs-conditions" => r.publisher = Some("NHS".into()),
            "medlineplus" => r.publisher = Some("MedlinePlus".into()),
            _ => r.journal = Some(rng.pick(&JOURNALS[..JOURNALS.len() - 2]).to_string()),
        }
        let mut mesh: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
        for _ in 0..rng.range(2, 6) {
            let t = self.topic(&mut rng);
            if !mesh.contains(&t.name) {
                mesh.push(t.name.clone());
            }
        }
        for (tag, p) in CHECK_TAGS {
            if rng.chance(*p) {
                mesh.push(tag.to_string());
            }
        }
        r.mesh_major = mesh.iter().take(rng.range(1, 2)).cloned().collect();
        r.mesh_terms = mesh;
        r.keywords = (0..rng.range(2, 5))
            .map(|k| {
                if k < topics.len() && rng.chance(0.6) {
                    topics[k].text.clone()
                } else {
                    self.word(&mut rng).to_string()
                }
            })
            .collect();
        r.language = Some("eng".into());
        r.open_access = Some(rng.chance(0.35));
        r.identifiers.pmid = matches!(source, "pubmed" | "europepmc" | "cochrane")
            .then(|| (20_000_000 + i).to_string());
        r.identifiers.doi = Some(format!("10.5555/ebench.{}.{i}", self.seed));
        if source == "clinicaltrials" {
            r.identifiers.nct = Some(format!("NCT{:08}", 10_000_000 + i % 89_999_999));
        }
        r.url = Some(format!("https://example.org/{source}/{i}"));
        r
    }

    fn title(&self, rng: &mut Rng, level: EvidenceLevel, topics: &[&Topic], pop: &str) -> String {
        let t1 = topics[0].text.as_str();
        let t2 = topics.get(1).map(|t| t.text.as_str()).unwrap_or("outcomes");
        let w = self.word(rng).to_string();
        let s = match (level, rng.range(0, 1)) {
            (EvidenceLevel::SystematicReview, 0) => {
                format!("{t1} for {t2}: a systematic review and meta-analysis")
            }
            (EvidenceLevel::SystematicReview, _) => {
                format!("Effectiveness of {t1} in {pop} with {t2}: a systematic review")
            }
            (EvidenceLevel::Rct, 0) => {
                format!("{t1} versus usual care for {t2} in {pop}: a randomised controlled trial")
            }
            (EvidenceLevel::Rct, _) => {
                format!("Effect of {t1} on {w} in {pop} with {t2}: a randomized clinical trial")
            }
            (EvidenceLevel::Observational, 0) => {
                format!("{t1} and risk of {t2} in {pop}: a prospective cohort study")
            }
            (EvidenceLevel::Observational, _) => {
                format!("Association between {t1} and {t2}: a population-based study")
            }
            (EvidenceLevel::CaseReport, _) => format!("{t1} presenting as {t2}: a case report"),
            (EvidenceLevel::Guideline, 0) => format!("{t1}: diagnosis and management"),
            (EvidenceLevel::Guideline, _) => format!("{t1} in {pop}: clinical guideline"),
            (EvidenceLevel::Opinion, _) => format!("{t1} and {t2}: time to rethink {w}?"),
            (EvidenceLevel::PatientInformation, 0) => format!("{t1}: what you need to know"),
            (EvidenceLevel::PatientInformation, _) => format!("Living with {t1}"),
            (_, 0) => format!("{t1} in {pop}: a narrative review of {w}"),
            (_, _) => format!("The role of {w} in {t1} and {t2}"),
        };
        capitalise(&s)
    }

    fn sentence(
        &self,
        rng: &mut Rng,
        out: &mut String,
        topics: &[&Topic],
        local: &[&str],
        words: usize,
    ) {
        let start = out.len();
        for k in 0..words {
            if k > 0 {
                out.push(' ');
            }
            let u = rng.f64();
            if u < 0.28 {
                out.push_str(STOP_WORDS[rng.range(0, 21)]);
            } else if u < 0.36 {
                let t = if rng.chance(0.6) {
                    topics[0]
                } else {
                    *rng.pick(topics)
                };
                out.push_str(&t.text);
            } else if u < 0.39 {
                match rng.range(0, 3) {
                    0 => out.push_str(&format!("{}%", rng.range(1, 99))),
                    1 => out.push_str(&format!("n = {}", rng.range(12, 4000))),
                    2 => out.push_str(&format!(
                        "95% CI {}.{} to {}.{}",
                        rng.range(0, 1),
                        rng.range(0, 9),
                        rng.range(1, 3),
                        rng.range(0, 9)
                    )),
                    _ => out.push_str(&format!("p = 0.0{}", rng.range(1, 9))),
                }
            } else if u < 0.58 {
                out.push_str(local[rng.range(0, local.len() - 1)]);
            } else {
                out.push_str(self.word(rng));
            }
        }
        if let Some(c) = out[start..].chars().next() {
            let upper: String = c.to_uppercase().collect();
            out.replace_range(start..start + c.len_utf8(), &upper);
        }
        out.push('.');
    }

    fn abstract_text(
        &self,
        rng: &mut Rng,
        level: EvidenceLevel,
        topics: &[&Topic],
        local: &[&str],
        pop: &str,
    ) -> String {
        let mut out = String::with_capacity(2000);
        let sections: &[&str] = match level {
            EvidenceLevel::PatientInformation
            | EvidenceLevel::Opinion
            | EvidenceLevel::Guideline => &[],
            _ => &["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"],
        };
        let target = rng.range(190, 260);
        let mut written = 0;
        let mut section = 0;
        while written < target {
            if !out.is_empty() {
                out.push(' ');
            }
            if let Some(s) = sections.get(section) {
                out.push_str(s);
                out.push_str(": ");
                section += 1;
            }
            if written == 0 {
                out.push_str(&capitalise(&format!(
                    "we studied {} in {pop}.",
                    topics[0].text
                )));
                out.push(' ');
            }
            let sentences = if sections.is_empty() {
                3
            } else {
                rng.range(2, 3)
            };
            for s in 0..sentences {
                if s > 0 {
                    out.push(' ');
                }
                let n = rng.range(10, 24);
                self.sentence(rng, &mut out, topics, local, n);
                written += n;
            }
            if section >= sections.len() && written >= target {
                break;
            }
        }
        out
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn source_for(rng: &mut Rng, level: EvidenceLevel) -> &'static str {
    let u = rng.f64();
    match level {
        EvidenceLevel::Guideline if u < 0.5 => "nice",
        EvidenceLevel::Guideline if u < 0.7 => "sign",
        EvidenceLevel::PatientInformation if u < 0.6 => "nhs-conditions",
        EvidenceLevel::PatientInformation => "medlineplus",
        EvidenceLevel::SystematicReview if u < 0.3 => "cochrane",
        EvidenceLevel::Rct if u < 0.2 => "clinicaltrials",
        _ if u < 0.82 => "pubmed",
        _ => "europepmc",
    }
}

fn pubtypes(level: EvidenceLevel) -> &'static [&'static str] {
    match level {
        EvidenceLevel::Guideline => &["Practice Guideline"],
        EvidenceLevel::SystematicReview => {
            &["Journal Article", "Systematic Review", "Meta-Analysis"]
        }
        EvidenceLevel::Rct => &["Journal Article", "Randomized Controlled Trial"],
        EvidenceLevel::Observational => &["Journal Article", "Observational Study"],
        EvidenceLevel::CaseReport => &["Journal Article", "Case Reports"],
        EvidenceLevel::Opinion => &["Editorial"],
        EvidenceLevel::PatientInformation => &["Patient Education Handout"],
        EvidenceLevel::Other => &["Journal Article", "Review"],
    }
}

/// The fields every peer engine indexes, flattened from a record.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerDoc {
    /// Record id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Abstract.
    pub abstract_text: String,
    /// MeSH terms joined with `; `.
    pub mesh: String,
    /// Keywords joined with `; `.
    pub keywords: String,
    /// Publication year (0 unknown).
    pub year: u16,
    /// Evidence level ordinal, as the search schema numbers it.
    pub evidence: u8,
    /// Source name.
    pub source: String,
}

impl PeerDoc {
    /// Flattens a record.
    pub fn from_record(r: &Record) -> Self {
        PeerDoc {
            id: r.id.clone(),
            title: r.title.clone(),
            abstract_text: r.abstract_text.clone().unwrap_or_default(),
            mesh: r.mesh_terms.join("; "),
            keywords: r.keywords.join("; "),
            year: r.published.map(|d| d.year.max(0) as u16).unwrap_or(0),
            evidence: search::schema::evidence_ord(r.level()) as u8,
            source: r.source.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_valid_and_abstract_sized() {
        let g = Generator::new(3, Vocab::builtin());
        let batch = g.records(0..200);
        assert_eq!(batch, g.records(0..200));
        assert_eq!(batch[17], g.record(17));
        let mut levels = std::collections::BTreeSet::new();
        let mut total = 0usize;
        for r in &batch {
            r.validate().unwrap();
            levels.insert(r.level());
            let a = r.abstract_text.as_deref().unwrap();
            total += a.len();
            assert!(a.len() > 800 && a.len() < 4000, "{}", a.len());
            assert!(SOURCES.contains(&r.source.as_str()));
            assert!(!r.mesh_terms.is_empty());
        }
        assert!(levels.len() >= 6);
        let mean = total / batch.len();
        assert!((1100..=2400).contains(&mean), "mean abstract {mean} bytes");
        let other = Generator::new(4, Vocab::builtin());
        assert_ne!(other.record(17), batch[17]);
    }
}
