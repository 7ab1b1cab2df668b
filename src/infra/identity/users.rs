//! Queries on `users`: accounts, permissions and the shared lockout counters.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::domain::identity::{AccountStatus, Duplicate};
use crate::infra::schema::users;
use crate::infra::StoreError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub user_id: String,
    pub customer_id: String,
    pub line_number: String,
    pub user_name: String,
    pub password_hash: String,
    pub permissions: Vec<String>,
    #[diesel(deserialize_as = String)]
    pub account_status: AccountStatus,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// `users.account_status` (its `CHECK` constraint lists the same values).
pub fn status_sql(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Active => "ACTIVE",
        AccountStatus::Suspended => "SUSPENDED",
        AccountStatus::Decoy => "DECOY",
    }
}

impl TryFrom<String> for AccountStatus {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Self, StoreError> {
        match s.as_str() {
            "ACTIVE" => Ok(AccountStatus::Active),
            "SUSPENDED" => Ok(AccountStatus::Suspended),
            "DECOY" => Ok(AccountStatus::Decoy),
            other => Err(StoreError::Corrupt(format!("account status {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow {
    pub user_id: String,
    pub customer_id: String,
    pub line_number: String,
    pub user_name: String,
    pub password_hash: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("duplicate {0:?}")]
    Duplicate(Duplicate),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn find(conn: &mut AsyncPgConnection, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &NewUserRow) -> Result<(), InsertError> {
    match diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .await
    {
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
            let which = if info.constraint_name() == Some("users_line_number_key") {
                Duplicate::LineNumber
            } else {
                Duplicate::UserId
            };
            Err(InsertError::Duplicate(which))
        }
        Err(e) => Err(InsertError::Store(e.into())),
    }
}

/// Which of a registration's unique keys is taken already, user id first (the insert still
/// catches a registration that races this check).
pub async fn taken(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    line_digits: &str,
) -> Result<Option<Duplicate>, StoreError> {
    let holders: Vec<(String, String)> = users::table
        .filter(
            users::user_id
                .eq(user_id)
                .or(users::line_number.eq(line_digits)),
        )
        .select((users::user_id, users::line_number))
        .limit(2)
        .load(conn)
        .await?;
    Ok(if holders.iter().any(|(u, _)| u == user_id) {
        Some(Duplicate::UserId)
    } else if holders.is_empty() {
        None
    } else {
        Some(Duplicate::LineNumber)
    })
}

/// Inserts rows whose user id is not taken yet; returns how many were new.
pub async fn insert_missing(
    conn: &mut AsyncPgConnection,
    rows: &[NewUserRow],
) -> Result<usize, StoreError> {
    Ok(diesel::insert_into(users::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?)
}

/// Reserves one login attempt before the password is checked: counts it as a failure up
/// front, atomically, and only while the account is not locked and fewer than `max`
/// attempts are counted (failed or still being checked). `None`: no attempt is left, so
/// parallel guesses cannot outrun the lockout. `Some(n)`: this attempt is number `n`.
pub async fn reserve_attempt(
    conn: &mut AsyncPgConnection,
    id: &str,
    max: u32,
) -> Result<Option<u32>, StoreError> {
    let now = Utc::now();
    let count: Option<i32> = diesel::update(
        users::table
            .find(id)
            .filter(
                users::locked_until
                    .is_null()
                    .or(users::locked_until.le(now)),
            )
            .filter(users::failed_login_count.lt(i32::try_from(max).unwrap_or(i32::MAX))),
    )
    .set((
        users::failed_login_count.eq(users::failed_login_count + 1),
        users::updated_at.eq(now),
    ))
    .returning(users::failed_login_count)
    .get_result(conn)
    .await
    .optional()?;
    Ok(count.map(|c| u32::try_from(c).unwrap_or(0)))
}

/// The decoy account unknown user ids count their attempts on (migration 7): its id can
/// never be parsed as a user id, so no one can log in, register or be managed as it.
pub const DECOY_USER: &str = "!decoy";

/// What a login attempt on an unknown user id writes instead of a failure count: the same
/// statement on the decoy account (one row of `users`, a commit), so both take the same
/// time. The decoy's count restarts now and then so it never overflows.
pub async fn count_unknown_attempt(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    let counted = reserve_attempt(conn, DECOY_USER, u32::MAX).await?;
    if counted.is_some_and(|n| n >= 1_000_000) {
        unlock(conn, DECOY_USER).await?;
    }
    Ok(())
}

/// Sets an account's status; false when there is no such user.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    id: &str,
    status: AccountStatus,
) -> Result<bool, StoreError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::account_status.eq(status_sql(status)),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Replaces an account's permissions; false when there is no such user.
pub async fn set_permissions(
    conn: &mut AsyncPgConnection,
    id: &str,
    permissions: &[String],
) -> Result<bool, StoreError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::permissions.eq(permissions),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Locks the account until `until` and restarts the failure count.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    id: &str,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id))
        .set((
            users::locked_until.eq(Some(until)),
            users::failed_login_count.eq(0),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A successful login: the failure count restarts and an expired lock is cleared. Answers
/// false, changing nothing, if a parallel attempt locked the account meanwhile.
pub async fn record_success(conn: &mut AsyncPgConnection, id: &str) -> Result<bool, StoreError> {
    let now = Utc::now();
    let n = diesel::update(
        users::table.find(id).filter(
            users::locked_until
                .is_null()
                .or(users::locked_until.le(now)),
        ),
    )
    .set((
        users::failed_login_count.eq(0),
        users::locked_until.eq(None::<DateTime<Utc>>),
        users::last_login_at.eq(Some(now)),
        users::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Clears a lock and the failure count; false if the user does not exist.
pub async fn unlock(conn: &mut AsyncPgConnection, id: &str) -> Result<bool, StoreError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::locked_until.eq(None::<DateTime<Utc>>),
            users::failed_login_count.eq(0),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}
