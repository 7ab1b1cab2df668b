//! A billing month (`YYYYMM` or `YYYY-MM`) and which months a customer may look up: the
//! current calendar month in the service's time zone and the 11 before it.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

/// How many months are selectable, the current one included.
pub const SELECTABLE_MONTHS: u32 = 12;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BillingMonth {
    year: i32,
    month: u32,
}

impl BillingMonth {
    /// Accepts `202611` and `2026-11`.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        const MSG: &str = "조회월은 YYYYMM 또는 YYYY-MM 형식이어야 합니다";
        let s = input.trim();
        let (y, m) = match s.len() {
            6 => (&s[..4], &s[4..]),
            7 if s.as_bytes()[4] == b'-' => (&s[..4], &s[5..]),
            _ => return Err(MSG),
        };
        if !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(MSG);
        }
        let year: i32 = y.parse().map_err(|_| MSG)?;
        let month: u32 = m.parse().map_err(|_| MSG)?;
        if !(1..=12).contains(&month) || year < 1900 {
            return Err(MSG);
        }
        Ok(Self { year, month })
    }

    /// The month containing `now` in time zone `tz`.
    pub fn current(now: DateTime<Utc>, tz: Tz) -> Self {
        let local = now.with_timezone(&tz);
        Self {
            year: local.year(),
            month: local.month(),
        }
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The selectable months, newest (current) first.
    pub fn selectable(now: DateTime<Utc>, tz: Tz) -> Vec<Self> {
        let mut m = Self::current(now, tz);
        let mut out = Vec::with_capacity(SELECTABLE_MONTHS as usize);
        for _ in 0..SELECTABLE_MONTHS {
            out.push(m);
            m = m.previous();
        }
        out
    }

    /// Checks the month is neither in the future nor older than the selectable range.
    pub fn ensure_selectable(self, now: DateTime<Utc>, tz: Tz) -> Result<Self, &'static str> {
        let current = Self::current(now, tz);
        if self > current {
            return Err("미래 월은 조회할 수 없습니다");
        }
        let oldest = Self::selectable(now, tz).last().copied().unwrap_or(current);
        if self < oldest {
            return Err("최근 12개월만 조회할 수 있습니다");
        }
        Ok(self)
    }

    /// `YYYYMM`, as KOS and the bill answer use it.
    pub fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }

    /// `YYYY-MM`, as the menu shows it.
    pub fn dashed(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.compact())
    }
}

impl fmt::Debug for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BillingMonth({})", self.compact())
    }
}

impl Serialize for BillingMonth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.compact())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn both_forms_parse() {
        assert_eq!(
            BillingMonth::parse("202611").unwrap(),
            BillingMonth::parse("2026-11").unwrap()
        );
        for bad in [
            "2026", "202613", "202600", "2026/11", "20261", "2026-1", "abcdef", "2026-1a",
        ] {
            assert!(BillingMonth::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_month_turns_in_the_configured_time_zone() {
        // 2026-11-30 20:00 UTC is already December 1st in Seoul.
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 20, 0, 0).unwrap();
        assert_eq!(
            BillingMonth::current(now, chrono_tz::Asia::Seoul).compact(),
            "202612"
        );
        assert_eq!(
            BillingMonth::current(now, chrono_tz::UTC).compact(),
            "202611"
        );
    }

    #[test]
    fn twelve_months_are_selectable_newest_first() {
        let now = Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Seoul;
        let months: Vec<String> = BillingMonth::selectable(now, tz)
            .iter()
            .map(|m| m.dashed())
            .collect();
        assert_eq!(months.len(), 12);
        assert_eq!(months[0], "2026-03");
        assert_eq!(months[11], "2025-04");
        assert!(BillingMonth::parse("202604")
            .unwrap()
            .ensure_selectable(now, tz)
            .is_err());
        assert!(BillingMonth::parse("202503")
            .unwrap()
            .ensure_selectable(now, tz)
            .is_err());
        assert!(BillingMonth::parse("202504")
            .unwrap()
            .ensure_selectable(now, tz)
            .is_ok());
    }
}
