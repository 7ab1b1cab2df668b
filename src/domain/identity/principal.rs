//! Who is calling: the authenticated user of a live session, and the ownership rule.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CustomerId, LineNumber, Permission, Permissions, UserId, UserName};

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub customer_id: CustomerId,
    pub user_name: UserName,
    pub line_number: LineNumber,
    pub permissions: Permissions,
    pub session_id: Uuid,
    /// Expiry of the access token that authenticated this request.
    pub expires_at: DateTime<Utc>,
}

impl Principal {
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    pub fn is_admin(&self) -> bool {
        self.has(Permission::Admin)
    }

    /// The ownership rule: a customer acts only on the line of their account; ADMIN on any.
    pub fn may_access_line(&self, line: &LineNumber) -> bool {
        self.is_admin() || &self.line_number == line
    }

    /// A user reads only their own account; ADMIN reads any.
    pub fn may_access_user(&self, user: &UserId) -> bool {
        self.is_admin() || &self.user_id == user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(perms: &[Permission]) -> Principal {
        Principal {
            user_id: UserId::parse("user01").unwrap(),
            customer_id: CustomerId::parse("CUST001").unwrap(),
            user_name: UserName::parse("홍길동").unwrap(),
            line_number: LineNumber::parse("01012345001").unwrap(),
            permissions: Permissions::new(perms.iter().copied()),
            session_id: Uuid::new_v4(),
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn customers_reach_only_their_own_line_and_account() {
        let p = principal(&[Permission::BillInquiry]);
        assert!(p.may_access_line(&LineNumber::parse("010-1234-5001").unwrap()));
        assert!(!p.may_access_line(&LineNumber::parse("010-1234-5002").unwrap()));
        assert!(p.may_access_user(&UserId::parse("user01").unwrap()));
        assert!(!p.may_access_user(&UserId::parse("user02").unwrap()));
    }

    #[test]
    fn admin_reaches_every_line() {
        let p = principal(&[Permission::Admin]);
        assert!(p.may_access_line(&LineNumber::parse("010-1234-5002").unwrap()));
        assert!(p.may_access_user(&UserId::parse("user02").unwrap()));
    }
}
