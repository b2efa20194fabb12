//! Time, behind a trait so that tests can fix it.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::AsciiText;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until it is moved; for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<SystemTime>);

impl FixedClock {
    /// A clock fixed at `at`.
    pub fn new(at: SystemTime) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0.lock().map(|t| *t).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Formats a time as AWS's ISO 8601 timestamps in UTC, whole seconds: `2026-11-28T19:29:39Z`.
pub fn iso8601(at: SystemTime) -> String {
    iso8601_text(at).to_string()
}

/// [`iso8601`] without an allocation: times before 1970 or after 9999 are written as
/// `1970-01-01T00:00:00Z`.
pub fn iso8601_text(at: SystemTime) -> AsciiText<20> {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = if secs > LAST_SECOND { 0 } else { secs };
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00Z";
    for (at, value, width) in [
        (0, year, 4),
        (5, month, 2),
        (8, day, 2),
        (11, of_day / 3600, 2),
        (14, of_day / 60 % 60, 2),
        (17, of_day % 60, 2),
    ] {
        let mut value = value;
        for digit in out.iter_mut().skip(at).take(width).rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    AsciiText::written(out)
}

/// 9999-12-31T23:59:59Z.
const LAST_SECOND: u64 = 253_402_300_799;

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Days since 0000-03-01, so that a leap day ends its year.
    let z = days + 719_468;
    let era = z / 146_097;
    let of_era = z % 146_097;
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_in_utc() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        assert_eq!(iso8601(at), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn formats_the_ends_of_its_range() {
        assert_eq!(iso8601(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let last = SystemTime::UNIX_EPOCH + Duration::from_secs(LAST_SECOND);
        assert_eq!(iso8601(last), "9999-12-31T23:59:59Z");
        let past = last + Duration::from_secs(1);
        assert_eq!(iso8601(past), "1970-01-01T00:00:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00Z");
    }

    proptest::proptest! {
        /// The same text as the `time` crate's RFC 3339 formatting of whole seconds in UTC.
        #[test]
        fn matches_rfc3339(secs in 0..=LAST_SECOND, nanos in 0u32..1_000_000_000) {
            use time::format_description::well_known::Rfc3339;
            let at = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
            let expected = time::OffsetDateTime::from_unix_timestamp(secs as i64)
                .unwrap()
                .format(&Rfc3339)
                .unwrap();
            let text = iso8601_text(at);
            proptest::prop_assert_eq!(text.as_str(), expected.as_str());
        }
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(SystemTime::UNIX_EPOCH);
        assert_eq!(clock.now(), SystemTime::UNIX_EPOCH);
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            clock.now(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(60)
        );
    }
}
