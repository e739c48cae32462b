//! Partial publication dates: a year, a year and month, or a full date.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// A publication date that may be known only to the year or the month.
///
/// Serialises as `"2021"`, `"2021-03"` or `"2021-03-04"`. Ordering is chronological with missing
/// parts sorting first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartialDate {
    /// Four-digit year.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: Option<u8>,
    /// Day of month, 1 to 31.
    pub day: Option<u8>,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parses an English month name or abbreviation ("Mar", "March") or a number ("03").
pub fn parse_month(s: &str) -> Option<u8> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u8>() {
        return (1..=12).contains(&n).then_some(n);
    }
    let lower = s.to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| lower.starts_with(m))
        .map(|i| i as u8 + 1)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl PartialDate {
    /// A date known to the year.
    pub fn year(year: i32) -> Self {
        PartialDate {
            year,
            month: None,
            day: None,
        }
    }

    /// Builds a date from parts, validating ranges.
    pub fn from_parts(year: i32, month: Option<u8>, day: Option<u8>) -> Result<Self, ModelError> {
        let bad = || ModelError::InvalidDate(format!("{year}-{month:?}-{day:?}"));
        if !(1000..=2999).contains(&year) {
            return Err(bad());
        }
        if let Some(m) = month {
            if !(1..=12).contains(&m) {
                return Err(bad());
            }
            if let Some(d) = day {
                if d == 0 || d > days_in_month(year, m) {
                    return Err(bad());
                }
            }
        } else if day.is_some() {
            return Err(bad());
        }
        Ok(PartialDate { year, month, day })
    }

    /// Parses the loose forms sources use: `2021`, `2021-03`, `2021-03-04`, `2021/03/04`,
    /// `2021-03-04T10:00:00Z`, `2021 Mar 4`, `2021 Mar`, and PubMed `MedlineDate` values such as
    /// `1998 Dec-1999 Jan` or `2000 Spring` (the first year, and month when it is plain).
    pub fn parse_loose(s: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::InvalidDate(s.to_string());
        let s = s.trim();
        // ISO date-time: keep the date part.
        let s = s
            .split(['T', ' '])
            .next()
            .filter(|p| p.len() >= 7 && p.contains('-'))
            .unwrap_or(s);
        let parts: Vec<&str> = s
            .split(|c: char| c == '-' || c == '/' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .collect();
        let year_str = parts.first().ok_or_else(bad)?;
        if year_str.len() != 4 {
            return Err(bad());
        }
        let year: i32 = year_str.parse().map_err(|_| bad())?;
        let month = parts.get(1).and_then(|m| parse_month(m));
        let day = match (month, parts.get(2)) {
            (Some(_), Some(d)) => d.parse::<u8>().ok(),
            _ => None,
        };
        Self::from_parts(year, month, day).or_else(|_| Self::from_parts(year, month, None))
    }

    /// The date as days since 1970-01-01 (missing parts count as the first), for range queries and
    /// recency scoring.
    pub fn days_since_epoch(&self) -> i64 {
        let m = self.month.unwrap_or(1) as i64;
        let d = self.day.unwrap_or(1) as i64;
        // Howard Hinnant's days_from_civil.
        let y = self.year as i64 - if m <= 2 { 1 } else { 0 };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146097 + doe - 719468
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
            if let Some(d) = self.day {
                write!(f, "-{d:02}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for PartialDate {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_loose(s)
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Option<&str>) {
        let got = PartialDate::parse_loose(input).ok().map(|d| d.to_string());
        assert_eq!(got.as_deref(), expect, "input {input:?}");
    }

    #[test]
    fn parses_source_forms() {
        check("2021", Some("2021"));
        check("2021-03", Some("2021-03"));
        check("2021-03-04", Some("2021-03-04"));
        check("2021/3/4", Some("2021-03-04"));
        check("2021-03-04T10:11:12Z", Some("2021-03-04"));
        check("2021 Mar 4", Some("2021-03-04"));
        check("2021 March", Some("2021-03"));
        check("1998 Dec-1999 Jan", Some("1998-12"));
        check("2000 Spring", Some("2000"));
        check("2021-02-30", Some("2021-02"));
        check("21", None);
        check("", None);
        check("abcd", None);
        check("0000", None);
    }

    #[test]
    fn ordering_and_epoch_days() {
        let a: PartialDate = "2020".parse().unwrap();
        let b: PartialDate = "2020-01-02".parse().unwrap();
        assert!(a < b);
        assert_eq!(
            "1970-01-01"
                .parse::<PartialDate>()
                .unwrap()
                .days_since_epoch(),
            0
        );
        assert_eq!(
            "2000-03-01"
                .parse::<PartialDate>()
                .unwrap()
                .days_since_epoch(),
            11017
        );
    }

    #[test]
    fn serde_roundtrip() {
        let d: PartialDate = serde_json::from_str("\"2019-07\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2019-07\"");
        assert!(serde_json::from_str::<PartialDate>("\"July\"").is_err());
    }
}
