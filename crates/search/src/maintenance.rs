//! Look-ups that index maintenance needs: the documents that stand for given record ids or share
//! given dedup keys (for incremental updates that keep cross-source duplicates merged).

use model::Record;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermSetQuery};
use tantivy::schema::Value;
use tantivy::{TantivyDocument, Term};

use crate::{SearchError, SearchIndex};

impl SearchIndex {
    /// The stored records of every document whose members include one of `ids` or whose dedup
    /// keys include one of `keys`.
    pub fn find_groups(&self, ids: &[String], keys: &[String]) -> Result<Vec<Record>, SearchError> {
        let f = *self.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !ids.is_empty() {
            clauses.push((
                Occur::Should,
                Box::new(TermSetQuery::new(
                    ids.iter().map(|i| Term::from_field_text(f.members, i)),
                )),
            ));
        }
        if !keys.is_empty() {
            clauses.push((
                Occur::Should,
                Box::new(TermSetQuery::new(
                    keys.iter().map(|k| Term::from_field_text(f.keys, k)),
                )),
            ));
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.searcher();
        let q = BooleanQuery::new(clauses);
        let limit = (ids.len() + keys.len())
            .saturating_mul(8)
            .clamp(16, 100_000);
        let top = searcher.search(&q, &TopDocs::with_limit(limit))?;
        let mut out = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let json = doc
                .get_first(f.record)
                .and_then(|v| v.as_str())
                .ok_or_else(|| SearchError::Corrupt("document without stored record".into()))?;
            out.push(
                serde_json::from_str(json)
                    .map_err(|e| SearchError::Corrupt(format!("stored record: {e}")))?,
            );
        }
        Ok(out)
    }
}
