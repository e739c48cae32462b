//! The vocabulary the corpus and the queries are made of: MeSH 2026 descriptor names read from
//! `../shared/data/mesh/mesh_descriptors_2026.csv` when present (never copied into the repository),
//! else the word lists in this file; plus everyday abstract words, stop words, names and journals.

use std::collections::BTreeSet;
use std::path::Path;

use crate::rng::Rng;

/// English function words: written into the text (so stop-word handling is exercised) and
/// dropped from the peers' translations of question-style queries.
pub const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
    "it", "of", "on", "or", "that", "the", "their", "there", "these", "this", "to", "was", "were",
    "which", "with", "what", "when", "how", "does", "do", "than", "between", "after", "during",
    "who", "best", "should", "can", "my", "me", "i", "not", "no", "but", "into",
];

/// Words that abstracts use everywhere, most frequent first.
pub const COMMON_WORDS: &[&str] = &[
    "patients",
    "study",
    "treatment",
    "results",
    "group",
    "clinical",
    "risk",
    "outcomes",
    "analysis",
    "effect",
    "associated",
    "compared",
    "data",
    "increased",
    "significant",
    "years",
    "age",
    "women",
    "care",
    "disease",
    "therapy",
    "levels",
    "trial",
    "mortality",
    "total",
    "higher",
    "lower",
    "reduced",
    "factors",
    "cases",
    "months",
    "methods",
    "background",
    "conclusions",
    "participants",
    "follow",
    "baseline",
    "primary",
    "secondary",
    "outcome",
    "evidence",
    "included",
    "reported",
    "median",
    "mean",
    "ratio",
    "interval",
    "confidence",
    "hazard",
    "odds",
    "difference",
    "control",
    "intervention",
    "randomised",
    "randomized",
    "placebo",
    "dose",
    "daily",
    "weeks",
    "adverse",
    "events",
    "safety",
    "efficacy",
    "quality",
    "life",
    "score",
    "scale",
    "assessment",
    "health",
    "hospital",
    "admission",
    "emergency",
    "primary",
    "community",
    "practice",
    "management",
    "diagnosis",
    "screening",
    "prevalence",
    "incidence",
    "population",
    "cohort",
    "prospective",
    "retrospective",
    "observational",
    "cross",
    "sectional",
    "survey",
    "national",
    "registry",
    "review",
    "systematic",
    "meta",
    "pooled",
    "heterogeneity",
    "bias",
    "sensitivity",
    "specificity",
    "accuracy",
    "model",
    "regression",
    "adjusted",
    "multivariable",
    "independent",
    "predictors",
    "severity",
    "chronic",
    "acute",
    "severe",
    "mild",
    "moderate",
    "early",
    "late",
    "long",
    "term",
    "short",
    "children",
    "adults",
    "older",
    "elderly",
    "infants",
    "adolescents",
    "pregnant",
    "men",
    "male",
    "female",
    "surgery",
    "surgical",
    "postoperative",
    "complications",
    "recurrence",
    "survival",
    "response",
    "rate",
    "rates",
    "duration",
    "length",
    "stay",
    "cost",
    "effectiveness",
    "guideline",
    "recommendations",
    "consensus",
    "panel",
    "policy",
    "service",
    "services",
    "nurses",
    "physicians",
    "staff",
    "training",
    "education",
    "implementation",
    "uptake",
    "adherence",
    "access",
    "barriers",
    "outcomes",
    "improvement",
    "decline",
    "exposure",
    "biomarker",
    "serum",
    "plasma",
    "blood",
    "urine",
    "imaging",
    "ultrasound",
    "tomography",
    "resonance",
    "laboratory",
    "genetic",
    "variants",
    "expression",
    "pathway",
];

/// Clinical words used when MeSH is absent, and ranked high when it is present.
pub const CLINICAL_WORDS: &[&str] = &[
    "asthma",
    "diabetes",
    "hypertension",
    "stroke",
    "cancer",
    "depression",
    "anxiety",
    "obesity",
    "dementia",
    "sepsis",
    "pneumonia",
    "influenza",
    "tuberculosis",
    "malaria",
    "hiv",
    "hepatitis",
    "cirrhosis",
    "pancreatitis",
    "appendicitis",
    "migraine",
    "epilepsy",
    "schizophrenia",
    "autism",
    "arthritis",
    "osteoporosis",
    "fracture",
    "fractures",
    "anemia",
    "anaemia",
    "leukemia",
    "lymphoma",
    "melanoma",
    "glioma",
    "myeloma",
    "sarcoma",
    "psoriasis",
    "eczema",
    "dermatitis",
    "urticaria",
    "glaucoma",
    "cataract",
    "retinopathy",
    "neuropathy",
    "nephropathy",
    "insulin",
    "metformin",
    "statins",
    "aspirin",
    "warfarin",
    "heparin",
    "apixaban",
    "rivaroxaban",
    "clopidogrel",
    "amoxicillin",
    "antibiotics",
    "corticosteroids",
    "steroids",
    "inhaled",
    "bronchodilator",
    "vaccine",
    "vaccination",
    "immunisation",
    "immunization",
    "chemotherapy",
    "radiotherapy",
    "immunotherapy",
    "physiotherapy",
    "rehabilitation",
    "exercise",
    "smoking",
    "cessation",
    "alcohol",
    "diet",
    "nutrition",
    "breastfeeding",
    "contraception",
    "pregnancy",
    "preeclampsia",
    "labour",
    "labor",
    "caesarean",
    "cesarean",
    "neonatal",
    "preterm",
    "paediatric",
    "pediatric",
    "geriatric",
    "frailty",
    "falls",
    "delirium",
    "pain",
    "analgesia",
    "opioids",
    "anesthesia",
    "anaesthesia",
    "ventilation",
    "intubation",
    "resuscitation",
    "cardiac",
    "arrest",
    "myocardial",
    "infarction",
    "coronary",
    "atrial",
    "fibrillation",
    "heart",
    "failure",
    "kidney",
    "renal",
    "dialysis",
    "transplantation",
    "liver",
    "lung",
    "pulmonary",
    "embolism",
    "thrombosis",
    "venous",
    "thromboembolism",
    "bleeding",
    "haemorrhage",
    "hemorrhage",
    "wound",
    "ulcer",
    "pressure",
    "infection",
    "infections",
    "antimicrobial",
    "resistance",
    "covid",
    "coronavirus",
    "respiratory",
    "syncytial",
    "bronchiolitis",
    "otitis",
    "tonsillitis",
    "sinusitis",
    "cellulitis",
    "meningitis",
    "encephalitis",
    "hypothyroidism",
    "hyperthyroidism",
    "thyroid",
    "adrenal",
    "pituitary",
    "cholesterol",
    "lipids",
    "glucose",
    "glycaemic",
    "glycemic",
    "hba1c",
    "blood",
    "transfusion",
];

/// Conditions and interventions (as MeSH names them) that head the topic ranking, so that the
/// most written-about topics are the ones clinicians search for.
pub const COMMON_TOPICS: &[&str] = &[
    "Asthma",
    "Diabetes Mellitus, Type 2",
    "Hypertension",
    "Heart Failure",
    "Stroke",
    "Atrial Fibrillation",
    "Depression",
    "Breast Neoplasms",
    "Pulmonary Disease, Chronic Obstructive",
    "Myocardial Infarction",
    "Obesity",
    "Dementia",
    "Sepsis",
    "Pneumonia",
    "COVID-19",
    "Coronary Artery Disease",
    "Lung Neoplasms",
    "Colorectal Neoplasms",
    "Prostatic Neoplasms",
    "Anxiety Disorders",
    "Schizophrenia",
    "Osteoarthritis",
    "Arthritis, Rheumatoid",
    "Osteoporosis",
    "Hip Fractures",
    "Low Back Pain",
    "Migraine Disorders",
    "Epilepsy",
    "Parkinson Disease",
    "Alzheimer Disease",
    "Multiple Sclerosis",
    "Renal Insufficiency, Chronic",
    "Acute Kidney Injury",
    "Venous Thromboembolism",
    "Pulmonary Embolism",
    "Anemia, Iron-Deficiency",
    "Pre-Eclampsia",
    "Premature Birth",
    "Diabetes, Gestational",
    "Bronchiolitis",
    "Otitis Media",
    "Urinary Tract Infections",
    "Cellulitis",
    "Tuberculosis",
    "HIV Infections",
    "Hepatitis C",
    "Influenza, Human",
    "Malaria",
    "Smoking Cessation",
    "Alcohol Drinking",
    "Exercise Therapy",
    "Cognitive Behavioral Therapy",
    "Physical Therapy Modalities",
    "Anti-Bacterial Agents",
    "Adrenal Cortex Hormones",
    "Metformin",
    "Insulin",
    "Aspirin",
    "Warfarin",
    "Anticoagulants",
    "Hydroxymethylglutaryl-CoA Reductase Inhibitors",
    "Antihypertensive Agents",
    "Antidepressive Agents",
    "Analgesics, Opioid",
    "Vaccination",
    "Influenza Vaccines",
    "Drug Therapy",
    "Immunotherapy",
    "Radiotherapy",
    "Palliative Care",
    "Critical Care",
    "Intensive Care Units",
    "Emergency Service, Hospital",
    "Primary Health Care",
    "Patient Education as Topic",
    "Quality of Life",
    "Pain Management",
    "Delirium",
    "Frailty",
    "Accidental Falls",
    "Pressure Ulcer",
    "Wound Healing",
    "Cardiac Arrest",
    "Cardiopulmonary Resuscitation",
    "Respiration, Artificial",
    "Anesthesia, General",
    "Postoperative Complications",
    "Surgical Wound Infection",
    "Cesarean Section",
    "Breast Feeding",
    "Infant, Newborn, Diseases",
    "Child Development",
    "Autism Spectrum Disorder",
    "Attention Deficit Disorder with Hyperactivity",
    "Eczema",
    "Psoriasis",
    "Glaucoma",
    "Cataract",
    "Diabetic Retinopathy",
    "Hypothyroidism",
    "Iron",
    "Vitamin D",
];

/// Family names for authors.
pub const SURNAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Ali",
    "Wang",
    "Li",
    "Zhang",
    "Chen",
    "Liu",
    "Yang",
    "Huang",
    "Zhao",
    "Garcia",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Rossi",
    "Russo",
    "Ferrari",
    "Nguyen",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Kim",
    "Park",
    "Silva",
];

/// Journals and publishers.
pub const JOURNALS: &[&str] = &[
    "BMJ",
    "Lancet",
    "N Engl J Med",
    "JAMA",
    "BMJ Open",
    "PLoS One",
    "Cochrane Database Syst Rev",
    "Ann Intern Med",
    "Br J Gen Pract",
    "Thorax",
    "Heart",
    "Diabetes Care",
    "Diabet Med",
    "Eur Heart J",
    "Circulation",
    "Stroke",
    "Age Ageing",
    "Arch Dis Child",
    "Pediatrics",
    "BJOG",
    "Obstet Gynecol",
    "Br J Psychiatry",
    "Lancet Psychiatry",
    "J Clin Oncol",
    "Br J Cancer",
    "Anaesthesia",
    "Br J Anaesth",
    "Crit Care Med",
    "Intensive Care Med",
    "Emerg Med J",
    "J Hosp Infect",
    "Clin Infect Dis",
    "Rheumatology (Oxford)",
    "Osteoporos Int",
    "Bone Joint J",
    "Br J Surg",
    "Health Technol Assess",
    "Implement Sci",
    "BMC Med",
    "BMC Health Serv Res",
    "Nurse Educ Today",
    "J Adv Nurs",
    "Int J Nurs Stud",
    "National Institute for Health and Care Excellence",
    "Scottish Intercollegiate Guidelines Network",
];

/// A topic: a MeSH descriptor, with the words it is written as in running text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The descriptor name as MeSH spells it (`Diabetes Mellitus, Type 2`).
    pub name: String,
    /// The name as running text (`type 2 diabetes mellitus`).
    pub text: String,
}

impl Topic {
    /// A topic from a descriptor name.
    pub fn new(name: &str) -> Self {
        let text = match name.split_once(", ") {
            // "Diabetes Mellitus, Type 2" reads "type 2 diabetes mellitus"; "Anemia,
            // Iron-Deficiency" reads "iron-deficiency anemia".
            Some((head, tail)) if !tail.contains(',') => format!("{tail} {head}"),
            _ => name.replace(',', ""),
        };
        Topic {
            name: name.to_string(),
            text: text.to_lowercase(),
        }
    }

    /// The words of the running-text form.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.text.split(' ').filter(|w| !w.is_empty())
    }

    /// Whether the running-text form is 2 to 4 plain lower-case words, none a stop word: a
    /// phrase every engine tokenises the same way.
    pub fn is_plain_phrase(&self) -> bool {
        let n = self.words().count();
        (2..=4).contains(&n)
            && self
                .words()
                .all(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase()) && !is_stop(w))
    }
}

/// Whether a word is a stop word.
pub fn is_stop(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// Where the vocabulary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabSource {
    /// MeSH 2026 descriptor names from the shared data.
    Mesh,
    /// The lists in this file.
    Builtin,
}

/// Words and topics in rank order (most frequent first).
#[derive(Debug, Clone)]
pub struct Vocab {
    /// Content words, most frequent first.
    pub words: Vec<String>,
    /// Topics, most written-about first.
    pub topics: Vec<Topic>,
    /// Where it came from.
    pub source: VocabSource,
}

fn plain_word(w: &str) -> bool {
    w.len() >= 3 && w.len() <= 24 && w.bytes().all(|b| b.is_ascii_lowercase()) && !is_stop(w)
}

impl Vocab {
    /// The built-in lists only.
    pub fn builtin() -> Self {
        let topics: Vec<Topic> = COMMON_TOPICS.iter().map(|n| Topic::new(n)).collect();
        Self::assemble(topics, BTreeSet::new(), VocabSource::Builtin)
    }

    /// MeSH descriptors from the shared data when present, else the built-in lists.
    pub fn load_default() -> Self {
        match crate::shared_data().map(|d| d.join("mesh/mesh_descriptors_2026.csv")) {
            Some(p) if p.is_file() => match Self::from_mesh_csv(&p) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!(
                        "note: cannot read {}: {e}; using built-in word lists",
                        p.display()
                    );
                    Self::builtin()
                }
            },
            _ => {
                eprintln!(
                    "note: ../shared/data/mesh/mesh_descriptors_2026.csv is absent; using built-in word lists"
                );
                Self::builtin()
            }
        }
    }

    /// Reads `id,scheme,subject` lines of the MeSH descriptor CSV.
    pub fn from_mesh_csv(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut names = Vec::new();
        for line in text.lines().skip(1) {
            let mut parts = line.splitn(3, ',');
            let (_, _, subject) = match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => continue,
            };
            let subject = subject.trim();
            let subject = subject
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .map(|s| s.replace("\"\"", "\""))
                .unwrap_or_else(|| subject.to_string());
            if !subject.is_empty()
                && subject.len() <= 60
                && subject
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | ',' | '-'))
            {
                names.push(subject);
            }
        }
        let have: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        // The curated clinical topics first (those MeSH has), then the rest in a fixed shuffle.
        let mut topics: Vec<Topic> = COMMON_TOPICS
            .iter()
            .filter(|n| have.contains(*n))
            .map(|n| Topic::new(n))
            .collect();
        let curated: BTreeSet<&str> = COMMON_TOPICS.iter().copied().collect();
        let mut rest: Vec<Topic> = names
            .iter()
            .filter(|n| !curated.contains(n.as_str()))
            .map(|n| Topic::new(n))
            .collect();
        Rng::new(0x005E_ED0F_3E5E).shuffle(&mut rest);
        topics.extend(rest);
        let mut extra = BTreeSet::new();
        for t in &topics {
            for w in t.words() {
                if plain_word(w) {
                    extra.insert(w.to_string());
                }
            }
        }
        Ok(Self::assemble(topics, extra, VocabSource::Mesh))
    }

    fn assemble(topics: Vec<Topic>, extra: BTreeSet<String>, source: VocabSource) -> Self {
        let mut seen = BTreeSet::new();
        let mut words = Vec::new();
        for w in COMMON_WORDS.iter().chain(CLINICAL_WORDS) {
            if seen.insert(w.to_string()) {
                words.push(w.to_string());
            }
        }
        let mut rest: Vec<String> = topics
            .iter()
            .flat_map(|t| t.words().map(str::to_string).collect::<Vec<_>>())
            .chain(extra)
            .filter(|w| plain_word(w) && !seen.contains(w))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Rng::new(0x00C0_FFEE).shuffle(&mut rest);
        words.extend(rest);
        Vocab {
            words,
            topics,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_text_reads_naturally() {
        let check = |name: &str, text: &str| assert_eq!(Topic::new(name).text, text);
        check("Diabetes Mellitus, Type 2", "type 2 diabetes mellitus");
        check("Heart Failure", "heart failure");
        check("Anemia, Iron-Deficiency", "iron-deficiency anemia");
        assert!(Topic::new("Heart Failure").is_plain_phrase());
        assert!(!Topic::new("Asthma").is_plain_phrase());
        assert!(!Topic::new("Diabetes Mellitus, Type 2").is_plain_phrase());
    }

    #[test]
    fn builtin_vocab_is_ranked_and_unique() {
        let v = Vocab::builtin();
        assert_eq!(v.words[0], "patients");
        let unique: BTreeSet<&String> = v.words.iter().collect();
        assert_eq!(unique.len(), v.words.len());
        assert!(v.topics.len() >= 50);
    }
}
