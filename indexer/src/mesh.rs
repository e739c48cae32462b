//! MeSH entry terms as synonyms: a streaming parser for NLM's descriptor XML
//! (`DescriptorRecordSet`, the `desc20xx.xml` file, plain or gzipped) into descriptor → entry
//! terms, and the conversion into a [`Thesaurus`] for query expansion.
//!
//! Expansion is optional: without a configured descriptor file the engine searches exactly what
//! was typed (plus UK/US spelling). With one, a query naming any entry term of a descriptor also
//! searches the descriptor's other terms, at a lower weight (see
//! [`search::RankingParams::synonym_weight`]).
//!
//! Only the terms of each descriptor's preferred concept are taken by default: the other concepts
//! of a record are often narrower ("A-23187" under "Calcimycin") and would broaden a search more
//! than a clinician expects. Permuted forms with a comma ("Houses, Slaughter") are skipped; their
//! words already appear in the natural order.

use std::io::BufRead;
use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use search::Thesaurus;

/// One MeSH descriptor with its entry terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The descriptor's unique identifier (`D000001`).
    pub ui: String,
    /// The preferred term (the heading).
    pub name: String,
    /// Entry terms of the preferred concept, heading excluded, in file order.
    pub entry_terms: Vec<String>,
    /// Terms of the record's other concepts (often narrower), in file order.
    pub other_concept_terms: Vec<String>,
}

impl Descriptor {
    /// The heading and its entry terms, the group used for expansion.
    pub fn synonyms(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.entry_terms.iter().map(|s| s.as_str()))
    }
}

/// Why a MeSH file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The file could not be opened or read.
    #[error("io error on {0}: {1}")]
    Io(String, std::io::Error),
    /// The XML is malformed.
    #[error("invalid mesh xml at byte {position}: {message}")]
    Xml {
        /// Byte offset of the error.
        position: u64,
        /// The parser's message.
        message: String,
    },
    /// The file is XML but not a `DescriptorRecordSet`.
    #[error("not a mesh descriptor file: root element is <{0}>")]
    NotDescriptors(String),
}

#[derive(Default)]
struct Partial {
    ui: String,
    name: String,
    entry_terms: Vec<String>,
    other_concept_terms: Vec<String>,
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Parses a `DescriptorRecordSet` from a reader, streaming (the full file is ~300 MB).
pub fn parse_descriptors<R: BufRead>(input: R) -> Result<Vec<Descriptor>, MeshError> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<Partial> = None;
    let mut preferred_concept = false;
    let mut term_usable = false;
    let mut text = String::new();
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| MeshError::Xml {
                position: reader.buffer_position(),
                message: e.to_string(),
            })?;
        match ev {
            Event::Start(e) => {
                let name = e.name().as_ref().to_vec();
                if stack.is_empty() && name != b"DescriptorRecordSet" {
                    return Err(MeshError::NotDescriptors(
                        String::from_utf8_lossy(&name).into_owned(),
                    ));
                }
                match name.as_slice() {
                    b"DescriptorRecord" => cur = Some(Partial::default()),
                    b"Concept" => {
                        preferred_concept = attr(&e, b"PreferredConceptYN").as_deref() == Some("Y")
                    }
                    b"Term" => term_usable = true,
                    _ => {}
                }
                stack.push(name);
                text.clear();
            }
            Event::Empty(_) => {}
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| MeshError::Xml {
                    position: reader.buffer_position(),
                    message: e.to_string(),
                })?;
                text.push_str(&s);
            }
            Event::End(_) => {
                let path: Vec<&[u8]> = stack.iter().map(|v| v.as_slice()).collect();
                if let Some(p) = cur.as_mut() {
                    let value = text.trim();
                    match path.as_slice() {
                        [.., b"DescriptorRecord", b"DescriptorUI"] => p.ui = value.to_string(),
                        [.., b"DescriptorRecord", b"DescriptorName", b"String"] => {
                            p.name = value.to_string()
                        }
                        [.., b"ConceptList", b"Concept", b"TermList", b"Term", b"String"]
                            if term_usable && !value.is_empty() && !value.contains(", ") =>
                        {
                            let list = if preferred_concept {
                                &mut p.entry_terms
                            } else {
                                &mut p.other_concept_terms
                            };
                            if value != p.name && !list.iter().any(|t| t == value) {
                                list.push(value.to_string());
                            }
                        }
                        [.., b"DescriptorRecord"] => {
                            if let Some(p) = cur.take() {
                                if !p.ui.is_empty() && !p.name.is_empty() {
                                    out.push(Descriptor {
                                        ui: p.ui,
                                        name: p.name,
                                        entry_terms: p.entry_terms,
                                        other_concept_terms: p.other_concept_terms,
                                    });
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if path.last() == Some(&b"Term".as_slice()) {
                    term_usable = false;
                }
                stack.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Reads descriptors from a file, gunzipping it when its name ends in `.gz`.
pub fn read_descriptors(path: &Path) -> Result<Vec<Descriptor>, MeshError> {
    let file =
        std::fs::File::open(path).map_err(|e| MeshError::Io(path.display().to_string(), e))?;
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    if is_gz {
        parse_descriptors(std::io::BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        parse_descriptors(std::io::BufReader::new(file))
    }
}

/// The thesaurus of descriptors: one group per descriptor, its heading and entry terms.
pub fn thesaurus(descriptors: &[Descriptor]) -> Thesaurus {
    Thesaurus::from_groups(descriptors.iter().map(|d| d.synonyms()))
}

/// Reads a descriptor file into a thesaurus (what a configured `mesh_xml` path turns into).
pub fn load_thesaurus(path: &Path) -> Result<Thesaurus, MeshError> {
    Ok(thesaurus(&read_descriptors(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"<?xml version="1.0"?>
<DescriptorRecordSet LanguageCode = "eng">
<DescriptorRecord DescriptorClass = "1">
  <DescriptorUI>D009203</DescriptorUI>
  <DescriptorName><String>Myocardial Infarction</String></DescriptorName>
  <PharmacologicalActionList><PharmacologicalAction><DescriptorReferredTo>
    <DescriptorUI>D999999</DescriptorUI><DescriptorName><String>Not Me</String></DescriptorName>
  </DescriptorReferredTo></PharmacologicalAction></PharmacologicalActionList>
  <ConceptList>
   <Concept PreferredConceptYN="Y">
    <ConceptName><String>Myocardial Infarction</String></ConceptName>
    <TermList>
     <Term IsPermutedTermYN="N"><String>Myocardial Infarction</String></Term>
     <Term IsPermutedTermYN="N"><String>Heart Attack</String></Term>
     <Term IsPermutedTermYN="Y"><String>Infarction, Myocardial</String></Term>
     <Term IsPermutedTermYN="Y"><String>Heart Attacks</String></Term>
    </TermList>
   </Concept>
   <Concept PreferredConceptYN="N">
    <TermList><Term IsPermutedTermYN="N"><String>Cardiovascular Stroke</String></Term></TermList>
   </Concept>
  </ConceptList>
</DescriptorRecord>
</DescriptorRecordSet>"#;

    #[test]
    fn parses_entry_terms_of_the_preferred_concept() {
        let d = parse_descriptors(SMALL.as_bytes()).unwrap_or_default();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].ui, "D009203");
        assert_eq!(d[0].name, "Myocardial Infarction");
        assert_eq!(d[0].entry_terms, ["Heart Attack", "Heart Attacks"]);
        assert_eq!(d[0].other_concept_terms, ["Cardiovascular Stroke"]);
        let t = thesaurus(&d);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn rejects_other_xml() {
        assert!(matches!(
            parse_descriptors("<PubmedArticleSet></PubmedArticleSet>".as_bytes()),
            Err(MeshError::NotDescriptors(_))
        ));
        assert!(parse_descriptors("<a><b></a>".as_bytes()).is_err());
    }
}
