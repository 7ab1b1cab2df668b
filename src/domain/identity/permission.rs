//! Service permissions and the set a user holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    BillInquiry,
    ProductChange,
    Admin,
    UserManagement,
}

impl Permission {
    pub const ALL: [Permission; 4] = [
        Permission::BillInquiry,
        Permission::ProductChange,
        Permission::Admin,
        Permission::UserManagement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::BillInquiry => "BILL_INQUIRY",
            Permission::ProductChange => "PRODUCT_CHANGE",
            Permission::Admin => "ADMIN",
            Permission::UserManagement => "USER_MANAGEMENT",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Permission::BillInquiry => "요금 조회",
            Permission::ProductChange => "상품 변경",
            Permission::Admin => "관리자",
            Permission::UserManagement => "사용자 관리",
        }
    }

    /// Whether a user may grant this permission to themselves at registration.
    pub fn self_grantable(self) -> bool {
        matches!(self, Permission::BillInquiry | Permission::ProductChange)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(())
    }
}

/// A small ordered set of permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions(Vec<Permission>);

impl Permissions {
    pub fn new(iter: impl IntoIterator<Item = Permission>) -> Self {
        let mut v: Vec<Permission> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    /// Parses stored names, skipping any this version does not know.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        Self::new(names.iter().filter_map(|n| n.as_ref().parse().ok()))
    }

    pub fn contains(&self, p: Permission) -> bool {
        self.0.contains(&p)
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|p| p.as_str().to_string()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_skipped() {
        let p = Permissions::from_names(&["ADMIN", "BILL_INQUIRY", "BOGUS", "ADMIN"]);
        assert_eq!(p.names(), vec!["BILL_INQUIRY", "ADMIN"]);
        assert!(p.contains(Permission::Admin));
        assert!(!p.contains(Permission::ProductChange));
    }

    #[test]
    fn only_customer_permissions_are_self_grantable() {
        assert!(Permission::BillInquiry.self_grantable());
        assert!(Permission::ProductChange.self_grantable());
        assert!(!Permission::Admin.self_grantable());
        assert!(!Permission::UserManagement.self_grantable());
    }
}
