//! A mobile line number: 11 digits starting `010`, accepted with or without dashes.

use std::fmt;

use serde::{Serialize, Serializer};

/// Canonical form is the 11 digits; `Display` gives the dashed form, `masked()` the log form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineNumber(String);

impl LineNumber {
    /// Accepts `01012345678` and `010-1234-5678`.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let trimmed = input.trim();
        let digits: String = if trimmed.len() == 13 {
            let b = trimmed.as_bytes();
            if b[3] != b'-' || b[8] != b'-' {
                return Err("전화번호 형식이 올바르지 않습니다 (010-1234-5678)");
            }
            trimmed.chars().filter(|c| *c != '-').collect()
        } else {
            trimmed.to_string()
        };
        if digits.len() != 11 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("전화번호 형식이 올바르지 않습니다 (010-1234-5678)");
        }
        if !digits.starts_with("010") {
            return Err("전화번호는 010으로 시작해야 합니다");
        }
        Ok(Self(digits))
    }

    /// The 11 digits, as stored.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `010-****-5678`: the only form allowed in logs.
    pub fn masked(&self) -> String {
        format!("{}-****-{}", &self.0[..3], &self.0[7..])
    }
}

impl fmt::Display for LineNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", &self.0[..3], &self.0[3..7], &self.0[7..])
    }
}

/// Debug masks too, so a stray `{:?}` cannot leak a full number into a log.
impl fmt::Debug for LineNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LineNumber({})", self.masked())
    }
}

impl Serialize for LineNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_to_the_same_line() {
        let a = LineNumber::parse("01012345678").unwrap();
        let b = LineNumber::parse("010-1234-5678").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "010-1234-5678");
        assert_eq!(a.digits(), "01012345678");
        assert_eq!(a.masked(), "010-****-5678");
        assert_eq!(format!("{a:?}"), "LineNumber(010-****-5678)");
    }

    #[test]
    fn bad_lines_are_refused() {
        for bad in [
            "",
            "0101234567",
            "010123456789",
            "01112345678",
            "010-12345-678",
            "010_1234_5678",
            "0101234567a",
            "010-1234-567８",
        ] {
            assert!(LineNumber::parse(bad).is_err(), "{bad}");
        }
    }
}
