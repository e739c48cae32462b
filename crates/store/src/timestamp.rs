//! Timestamps: RFC 3339 UTC strings of one fixed width, so that SQLite can compare them as text.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::error::{Result, StoreError};

/// `2026-01-31T09:15:00.123Z`: always millisecond precision and `Z`, so that string order is time order.
const CANONICAL: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

const DATE_ONLY: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

/// The current time as a canonical RFC 3339 UTC string, e.g. `2026-01-31T09:15:00.123Z`.
///
/// Every timestamp the store writes has this shape; use it for [`crate::JobRecord`] times too.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    // Formatting only fails for years outside 0..=9999, which the clock does not produce.
    t.format(CANONICAL)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// Parses an RFC 3339 timestamp (any offset, any precision) or a bare `YYYY-MM-DD` date (midnight
/// UTC) into the canonical form, so it can be compared with stored timestamps.
pub fn normalise(s: &str) -> Result<String> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(format(t));
    }
    if let Ok(d) = Date::parse(s, DATE_ONLY) {
        return Ok(format(d.midnight().assume_utc()));
    }
    Err(StoreError::InvalidTimestamp(s.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        assert_eq!(normalise(input).unwrap(), expect, "{input}");
    }

    #[test]
    fn normalises_to_fixed_width_utc() {
        check("2026-01-31T09:15:00Z", "2026-01-31T09:15:00.000Z");
        check("2026-01-31T09:15:00.1Z", "2026-01-31T09:15:00.100Z");
        check("2026-01-31T09:15:00.123456789Z", "2026-01-31T09:15:00.123Z");
        check("2026-01-31T10:15:00+01:00", "2026-01-31T09:15:00.000Z");
        check("2026-01-31", "2026-01-31T00:00:00.000Z");
        check(" 2026-01-31 ", "2026-01-31T00:00:00.000Z");
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            normalise("yesterday"),
            Err(StoreError::InvalidTimestamp(_))
        ));
        assert!(normalise("2026-13-01").is_err());
    }

    #[test]
    fn now_is_canonical_and_sorts() {
        let a = now();
        assert_eq!(a.len(), "2026-01-31T09:15:00.123Z".len());
        assert_eq!(normalise(&a).unwrap(), a);
        assert!(a.as_str() > "2020-01-01T00:00:00.000Z");
    }
}
