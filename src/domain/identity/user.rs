//! Account value types: user id, name, customer id and the password policy.

use std::fmt;

use serde::Serialize;

/// `^[a-zA-Z0-9_-]{3,20}$`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct UserId(String);

impl UserId {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let ok = (3..=20).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(input.to_string()))
        } else {
            Err("아이디는 영문, 숫자, _, - 로 3~20자여야 합니다")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

/// A display name: 1–50 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserName(String);

impl UserName {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let trimmed = input.trim();
        let len = trimmed.chars().count();
        if !(1..=50).contains(&len) || trimmed.chars().any(char::is_control) {
            return Err("이름은 1~50자여야 합니다");
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The operator's customer id: 1–64 ASCII letters, digits, `_` or `-` (the web client
/// generates 20 alphanumerics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerId(String);

impl CustomerId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let ok = (1..=Self::MAX_LEN).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(input.to_string()))
        } else {
            Err("고객 ID는 영문, 숫자, _, - 로 1~64자여야 합니다")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password chosen at registration: 8–50 characters with upper, lower, digit and special.
/// Holds the text only until it is hashed; never printed.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let len = input.chars().count();
        let ok = (8..=50).contains(&len)
            && input.chars().any(|c| c.is_ascii_uppercase())
            && input.chars().any(|c| c.is_ascii_lowercase())
            && input.chars().any(|c| c.is_ascii_digit())
            && input
                .chars()
                .any(|c| !c.is_alphanumeric() && !c.is_whitespace());
        if ok {
            Ok(Self(input.to_string()))
        } else {
            Err("비밀번호는 8~50자이며 대문자, 소문자, 숫자, 특수문자를 모두 포함해야 합니다")
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// Where an account stands (`users.account_status`). Only `Active` accounts log in or
/// refresh; `Decoy` is the row unknown user ids' attempts are counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    Active,
    Suspended,
    Decoy,
}

/// Which unique key a registration collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    UserId,
    LineNumber,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_rules() {
        assert!(UserId::parse("user01").is_ok());
        assert!(UserId::parse("a_b-C9").is_ok());
        assert!(UserId::parse("ab").is_err());
        assert!(UserId::parse(&"a".repeat(21)).is_err());
        assert!(UserId::parse("user 01").is_err());
        assert!(UserId::parse("유저01").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(NewPassword::parse("Passw0rd!").is_ok());
        for bad in [
            "Pa0!",
            "password0!",
            "PASSWORD0!",
            "Password!!",
            "Password00",
            &format!("Aa0!{}", "x".repeat(47)),
        ] {
            assert!(NewPassword::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", NewPassword::parse("Passw0rd!").unwrap()),
            "NewPassword(***)"
        );
    }

    #[test]
    fn names_and_customer_ids() {
        assert_eq!(UserName::parse("  홍길동 ").unwrap().as_str(), "홍길동");
        assert!(UserName::parse("").is_err());
        assert!(CustomerId::parse("CUST001").is_ok());
        assert!(CustomerId::parse("CUST 001").is_err());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse("123456aBcDeFgHiJkLmNoP").is_ok());
        assert!(CustomerId::parse(&"a".repeat(64)).is_ok());
        assert!(CustomerId::parse(&"a".repeat(65)).is_err());
    }
}
