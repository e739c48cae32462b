//! Parsing and validation of search parameters, shared by search, export and feed endpoints.
//! Every failure names the parameter and what it accepts.

use model::{Audience, EvidenceLevel};
use search::{Filters, Sort, MAX_QUERY_CHARS, MAX_RESULT_WINDOW};

use crate::error::{ApiCode, ApiError};

/// Most hits one page may hold.
pub const MAX_PER_PAGE: usize = 100;

/// A validated search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParams {
    /// Query text.
    pub q: String,
    /// Page, from 1.
    pub page: usize,
    /// Hits per page.
    pub per_page: usize,
    /// Order.
    pub sort: Sort,
    /// Filters.
    pub filters: Filters,
    /// Explain scores.
    pub explain: bool,
    /// Federation: `None` = config default; `Some(vec![])` = none.
    pub federate: Option<Vec<String>>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ApiError::param(format!(
            "{name} must be true or false, not {v:?}"
        ))),
    }
}

fn parse_year(name: &str, v: &str) -> Result<u16, ApiError> {
    let t = v.trim();
    match t.parse::<u16>() {
        Ok(y) if t.len() == 4 && (1000..=2999).contains(&y) => Ok(y),
        _ => Err(ApiError::param(format!(
            "{name} must be a four-digit year such as 2020, not {v:?}"
        ))),
    }
}

fn parse_count(name: &str, v: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    match v.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::param(format!(
            "{name} must be a whole number from {min} to {max}, not {v:?}"
        ))),
    }
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl SearchParams {
    /// Parses query-string pairs. Repeated list parameters (`evidence_level`, `source`) add up;
    /// other repeated parameters keep the last value. Unknown parameters are ignored.
    pub fn parse(pairs: &[(String, String)]) -> Result<SearchParams, ApiError> {
        let mut p = SearchParams {
            q: String::new(),
            page: 1,
            per_page: 10,
            sort: Sort::Relevance,
            filters: Filters::default(),
            explain: false,
            federate: None,
        };
        for (k, v) in pairs {
            match k.as_str() {
                "q" => {
                    if v.chars().count() > MAX_QUERY_CHARS {
                        return Err(ApiError::new(
                            ApiCode::QueryTooLong,
                            format!(
                                "q is {} characters long; the limit is {MAX_QUERY_CHARS}",
                                v.chars().count()
                            ),
                        ));
                    }
                    p.q = v.chars().filter(|c| !c.is_control()).collect();
                }
                "page" => p.page = parse_count("page", v, 1, MAX_RESULT_WINDOW)?,
                "per_page" => p.per_page = parse_count("per_page", v, 1, MAX_PER_PAGE)?,
                "sort" => {
                    p.sort = match v.trim() {
                        "relevance" | "" => Sort::Relevance,
                        "date" => Sort::Date,
                        _ => {
                            return Err(ApiError::param(format!(
                                "sort must be relevance or date, not {v:?}"
                            )))
                        }
                    }
                }
                "evidence_level" => {
                    for item in list(v) {
                        let level: EvidenceLevel = item.parse().map_err(|_| {
                            let known: Vec<&str> =
                                EvidenceLevel::ALL.iter().map(|l| l.as_str()).collect();
                            ApiError::param(format!(
                                "unknown evidence_level {item:?}; use one or more of {}",
                                known.join(", ")
                            ))
                        })?;
                        if !p.filters.evidence_levels.contains(&level) {
                            p.filters.evidence_levels.push(level);
                        }
                    }
                }
                "year_from" => p.filters.year_from = Some(parse_year("year_from", v)?),
                "year_to" => p.filters.year_to = Some(parse_year("year_to", v)?),
                "source" => {
                    for s in list(v) {
                        if s.len() > 64 {
                            return Err(ApiError::param("source names are at most 64 characters"));
                        }
                        p.filters.sources.push(s.to_string());
                    }
                }
                "audience" => {
                    p.filters.audience = match v.trim() {
                        "" | "any" => None,
                        a => Some(a.parse::<Audience>().map_err(|_| {
                            ApiError::param(format!(
                                "audience must be professional or patient, not {v:?}"
                            ))
                        })?),
                    }
                }
                "open_access" => p.filters.open_access = Some(parse_bool("open_access", v)?),
                "reading_grade_max" => {
                    let g: f32 = v
                        .trim()
                        .parse()
                        .ok()
                        .filter(|g: &f32| g.is_finite() && (0.0..=30.0).contains(g))
                        .ok_or_else(|| {
                            ApiError::param(format!(
                                "reading_grade_max must be a number from 0 to 30, not {v:?}"
                            ))
                        })?;
                    p.filters.max_reading_grade = Some(g);
                }
                "explain" => p.explain = parse_bool("explain", v)?,
                "federate" => {
                    let names: Vec<String> = list(v).map(str::to_string).collect();
                    p.federate = Some(if names.iter().any(|n| n == "none") {
                        Vec::new()
                    } else {
                        names
                    });
                }
                _ => {}
            }
        }
        if let (Some(a), Some(b)) = (p.filters.year_from, p.filters.year_to) {
            if a > b {
                return Err(ApiError::param(format!(
                    "year_from ({a}) is after year_to ({b})"
                )));
            }
        }
        if p.page.saturating_mul(p.per_page) > MAX_RESULT_WINDOW {
            return Err(ApiError::new(
                ApiCode::PageTooDeep,
                format!(
                    "page {} of {} per page reaches past result {MAX_RESULT_WINDOW}, the deepest allowed; narrow the search or add filters",
                    p.page, p.per_page
                ),
            ));
        }
        Ok(p)
    }

    /// The offset of the first hit of the page.
    pub fn offset(&self) -> usize {
        (self.page - 1) * self.per_page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<SearchParams, ApiError> {
        let pairs: Vec<(String, String)> = q
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        SearchParams::parse(&pairs)
    }

    #[test]
    fn accepts_and_rejects() {
        let p = parse("q=asthma&page=2&per_page=20&sort=date&evidence_level=guideline,rct&year_from=2010&year_to=2020&audience=patient&open_access=true").unwrap();
        assert_eq!(p.offset(), 20);
        assert_eq!(p.filters.evidence_levels.len(), 2);
        assert_eq!(p.sort, Sort::Date);
        let code = |q: &str| parse(q).unwrap_err().code;
        assert_eq!(code("per_page=101"), ApiCode::InvalidParameter);
        assert_eq!(code("per_page=0"), ApiCode::InvalidParameter);
        assert_eq!(code("page=0"), ApiCode::InvalidParameter);
        assert_eq!(
            code("page=99999999999999999999999"),
            ApiCode::InvalidParameter
        );
        assert_eq!(code("page=1001"), ApiCode::PageTooDeep);
        assert_eq!(code("evidence_level=gold"), ApiCode::InvalidParameter);
        assert_eq!(code("year_from=20x0"), ApiCode::InvalidParameter);
        assert_eq!(
            code("year_from=2020&year_to=2010"),
            ApiCode::InvalidParameter
        );
        assert_eq!(code("sort=popular"), ApiCode::InvalidParameter);
        assert_eq!(
            code(&format!("q={}", "a".repeat(MAX_QUERY_CHARS + 1))),
            ApiCode::QueryTooLong
        );
        assert!(parse("page=1000&per_page=10").is_ok());
        assert!(parse("unknown=1").is_ok());
    }
}
