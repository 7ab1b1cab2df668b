//! An `Idempotency-Key` as clients send it: 1–255 printable ASCII characters. Shared by
//! every context whose requests take one (a product change; the store's charges and
//! orders).

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let k = input.trim();
        if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(k.to_string()))
        } else {
            Err("1~255자의 출력 가능한 ASCII 문자여야 합니다")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A client's key is theirs to choose: its length only, never its text, in logs.
        write!(f, "IdempotencyKey(len {})", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_of_bounded_length() {
        assert_eq!(IdempotencyKey::parse(" k-1 ").unwrap().as_str(), "k-1");
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("with space").is_err());
        assert!(IdempotencyKey::parse("키").is_err());
        assert!(IdempotencyKey::parse(&"x".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"x".repeat(256)).is_err());
    }
}
