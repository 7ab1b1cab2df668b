//! Account actors: logins (password check, lockout), registration, account look-ups.
//!
//! State: a queue per user with a login in progress, so that one user's logins run one
//! after another on this instance (a burst of guesses gets no parallelism). The lockout
//! counters live in PostgreSQL so that every instance shares them, and each attempt is
//! counted there before its password is checked, which bounds parallel guesses made through
//! several instances too. Sharded by user id so one user's logins meet one actor.
//! Senders: the auth and user endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::session::SessionRecord;
use crate::actors::shard::{Lifeline, Panic};
use crate::domain::identity::lockout::LockoutPolicy;
use crate::domain::identity::{
    AccountStatus, CustomerId, Duplicate, LineNumber, NewPassword, Permissions, UserId, UserName,
};
use crate::infra::db;
use crate::infra::identity::password::{HashError, PasswordHasher};
use crate::infra::identity::users::{self, InsertError, NewUserRow, UserRow};
use crate::infra::rate_limit::{self, Decision};
use crate::infra::{StoreError, Stores};
use crate::settings::RateLimitSettings;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("rate limited")]
    RateLimited { retry_after_s: u64 },
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account locked")]
    /// `minutes`: how long a lockout lasts, for the message.
    Locked { until: DateTime<Utc>, minutes: i64 },
    #[error("duplicate {0:?}")]
    Duplicate(Duplicate),
    #[error("password hashing saturated")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<HashError> for AccountError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AccountError::Busy,
            HashError::Failed(m) => AccountError::Internal(m),
        }
    }
}

/// An account as the API shows it.
#[derive(Debug, Clone)]
pub struct Account {
    pub user_id: String,
    pub customer_id: String,
    pub user_name: String,
    pub line_number: LineNumber,
    pub account_status: AccountStatus,
    pub permissions: Permissions,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Account {
    fn from_row(row: UserRow) -> Result<Self, StoreError> {
        let line_number = LineNumber::parse(&row.line_number)
            .map_err(|_| StoreError::Corrupt(format!("line of account {}", row.user_id)))?;
        Ok(Self {
            permissions: Permissions::from_names(&row.permissions),
            user_id: row.user_id,
            customer_id: row.customer_id,
            user_name: row.user_name,
            line_number,
            account_status: row.account_status,
            locked_until: row.locked_until,
        })
    }

    pub fn session_record(&self) -> SessionRecord {
        SessionRecord {
            user_id: self.user_id.clone(),
            customer_id: self.customer_id.clone(),
            user_name: self.user_name.clone(),
            line_number: self.line_number.digits().to_string(),
            permissions: self.permissions.names(),
            created_at: Utc::now().timestamp(),
        }
    }
}

/// Check a password; `user_id` is whatever the client sent (an unknown or malformed id
/// costs the same as a wrong password and gets the same answer).
#[derive(Message)]
#[rtype(result = "Result<Account, AccountError>")]
pub struct Login {
    pub user_id: String,
    pub password: String,
    pub client: String,
}

/// A self-registration, already validated at the edge.
pub struct Registration {
    pub user_id: UserId,
    pub customer_id: CustomerId,
    pub line_number: LineNumber,
    pub user_name: UserName,
    pub password: NewPassword,
    pub permissions: Permissions,
}

/// The checks of a registration that need no KOS, in SPEC's order after validation: the
/// client's registration rate (counted first, so refused attempts are limited too), then a
/// taken user id or line (a conflict). Nothing scarce is spent before they pass.
#[derive(Message)]
#[rtype(result = "Result<(), AccountError>")]
pub struct PrepareRegistration {
    pub user_id: UserId,
    pub line_number: LineNumber,
    /// The client whose registration rate is counted; `None` for an account an operator
    /// creates (`USER_MANAGEMENT`), which is not rate limited.
    pub client: Option<String>,
}

/// Stores a registration that passed every check (hashing its password first). A race with
/// another registration of the same user id or line still ends in `Duplicate`.
#[derive(Message)]
#[rtype(result = "Result<(), AccountError>")]
pub struct Register(pub Registration);

#[derive(Message)]
#[rtype(result = "Result<Option<Account>, AccountError>")]
pub struct GetAccount(pub UserId);

/// Clears a lockout; answers false when the user does not exist.
#[derive(Message)]
#[rtype(result = "Result<bool, AccountError>")]
pub struct Unlock(pub UserId);

/// A change an operator makes to an account (`USER_MANAGEMENT`); answers false when the
/// user does not exist. The caller then ends the user's sessions.
#[derive(Message)]
#[rtype(result = "Result<bool, AccountError>")]
pub enum ChangeAccount {
    Suspend(UserId),
    Resume(UserId),
    SetPermissions(UserId, Permissions),
}

/// Readiness probe of the stores this actor depends on.
#[derive(Message)]
#[rtype(result = "StoreHealth")]
pub struct CheckStores;

#[derive(Debug, Clone)]
pub struct StoreHealth {
    pub postgres: Result<(), String>,
    pub redis: Result<(), String>,
}

pub struct AccountActor {
    /// One gate per user with a login in progress on this shard.
    login_queues: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    stores: Stores,
    hasher: Arc<PasswordHasher>,
    policy: LockoutPolicy,
    limits: RateLimitSettings,
    _lifeline: Lifeline,
}

impl AccountActor {
    pub fn new(
        stores: Stores,
        hasher: Arc<PasswordHasher>,
        policy: LockoutPolicy,
        limits: RateLimitSettings,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            login_queues: HashMap::new(),
            stores,
            hasher,
            policy,
            limits,
            _lifeline: lifeline,
        }
    }
}

impl Actor for AccountActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Forget the gates of users with no login waiting.
        ctx.run_interval(std::time::Duration::from_secs(10), |act, _| {
            act.login_queues
                .retain(|_, gate| Arc::strong_count(gate) > 1);
        });
    }
}

impl Supervised for AccountActor {}

async fn check_rate(
    stores: &Stores,
    action: &str,
    client: &str,
    per_minute: u32,
) -> Result<(), AccountError> {
    match rate_limit::hit(&stores.redis, action, client, per_minute).await {
        Decision::Allowed => Ok(()),
        Decision::Limited { retry_after_s } => Err(AccountError::RateLimited { retry_after_s }),
    }
}

impl Handler<Login> for AccountActor {
    type Result = ResponseFuture<Result<Account, AccountError>>;

    fn handle(&mut self, msg: Login, _: &mut Context<Self>) -> Self::Result {
        let gate = self
            .login_queues
            .entry(msg.user_id.clone())
            .or_default()
            .clone();
        let stores = self.stores.clone();
        let hasher = self.hasher.clone();
        let policy = self.policy;
        let per_minute = self.limits.login_per_ip_per_minute;
        Box::pin(async move {
            check_rate(&stores, "login", &msg.client, per_minute).await?;
            let _turn = gate.lock_owned().await;
            let row = if UserId::parse(&msg.user_id).is_ok() {
                let mut conn = stores.db.get().await.map_err(StoreError::from)?;
                users::find(&mut conn, &msg.user_id).await?
            } else {
                None
            };
            let locked = |until: Option<DateTime<Utc>>| AccountError::Locked {
                until: until.unwrap_or_else(|| Utc::now() + policy.duration),
                minutes: policy.duration.num_minutes(),
            };
            // Every attempt on an existing account is counted before the password is
            // checked, so a burst of parallel guesses gets no more tries than a sequence.
            // An unknown id writes a decoy row instead: the same work, the same time.
            let attempt = {
                let mut conn = stores.db.get().await.map_err(StoreError::from)?;
                match &row {
                    Some(r) => {
                        match users::reserve_attempt(&mut conn, &r.user_id, policy.max_failures)
                            .await?
                        {
                            Some(n) => Some(n),
                            None => {
                                return Err(locked(
                                    r.locked_until
                                        .filter(|u| policy.is_locked(Some(*u), Utc::now())),
                                ))
                            }
                        }
                    }
                    None => {
                        users::count_unknown_attempt(&mut conn).await?;
                        None
                    }
                }
            };
            // The connection is not held while hashing.
            let matched = hasher
                .verify(msg.password, row.as_ref().map(|r| r.password_hash.clone()))
                .await?;
            let (Some(row), Some(attempt)) = (row, attempt) else {
                return Err(AccountError::InvalidCredentials);
            };
            let mut conn = stores.db.get().await.map_err(StoreError::from)?;
            if !matched {
                if let Some(until) = policy.lock_after(attempt, Utc::now()) {
                    users::lock(&mut conn, &row.user_id, until).await?;
                    tracing::warn!(user = %row.user_id, "account locked after repeated failures");
                }
                return Err(AccountError::InvalidCredentials);
            }
            if !users::record_success(&mut conn, &row.user_id).await? {
                return Err(locked(None));
            }
            // A disabled account gets the same answer as a wrong password.
            if row.account_status != AccountStatus::Active {
                return Err(AccountError::InvalidCredentials);
            }
            Ok(Account::from_row(row)?)
        })
    }
}

impl Handler<PrepareRegistration> for AccountActor {
    type Result = ResponseFuture<Result<(), AccountError>>;

    fn handle(&mut self, msg: PrepareRegistration, _: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        let per_minute = self.limits.register_per_ip_per_minute;
        Box::pin(async move {
            if let Some(client) = &msg.client {
                check_rate(&stores, "register", client, per_minute).await?;
            }
            let mut conn = stores.db.get().await.map_err(StoreError::from)?;
            match users::taken(&mut conn, msg.user_id.as_str(), msg.line_number.digits()).await? {
                Some(which) => Err(AccountError::Duplicate(which)),
                None => Ok(()),
            }
        })
    }
}

impl Handler<Register> for AccountActor {
    type Result = ResponseFuture<Result<(), AccountError>>;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        let hasher = self.hasher.clone();
        Box::pin(async move {
            let r = msg.0;
            let password_hash = hasher.hash(r.password.expose().to_string()).await?;
            let row = NewUserRow {
                user_id: r.user_id.as_str().to_string(),
                customer_id: r.customer_id.as_str().to_string(),
                line_number: r.line_number.digits().to_string(),
                user_name: r.user_name.as_str().to_string(),
                password_hash,
                permissions: r.permissions.names(),
            };
            let mut conn = stores.db.get().await.map_err(StoreError::from)?;
            users::insert(&mut conn, &row).await.map_err(|e| match e {
                InsertError::Duplicate(which) => AccountError::Duplicate(which),
                InsertError::Store(s) => AccountError::Store(s),
            })
        })
    }
}

impl Handler<GetAccount> for AccountActor {
    type Result = ResponseFuture<Result<Option<Account>, AccountError>>;

    fn handle(&mut self, msg: GetAccount, _: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        Box::pin(async move {
            let mut conn = stores.db.get().await.map_err(StoreError::from)?;
            Ok(users::find(&mut conn, msg.0.as_str())
                .await?
                .map(Account::from_row)
                .transpose()?)
        })
    }
}

impl Handler<Unlock> for AccountActor {
    type Result = ResponseFuture<Result<bool, AccountError>>;

    fn handle(&mut self, msg: Unlock, _: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        Box::pin(async move {
            let mut conn = stores.db.get().await.map_err(StoreError::from)?;
            Ok(users::unlock(&mut conn, msg.0.as_str()).await?)
        })
    }
}

impl Handler<ChangeAccount> for AccountActor {
    type Result = ResponseFuture<Result<bool, AccountError>>;

    fn handle(&mut self, msg: ChangeAccount, _: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        Box::pin(async move {
            let mut conn = stores.db.get().await.map_err(StoreError::from)?;
            Ok(match msg {
                ChangeAccount::Suspend(id) => {
                    users::set_status(&mut conn, id.as_str(), AccountStatus::Suspended).await?
                }
                ChangeAccount::Resume(id) => {
                    users::set_status(&mut conn, id.as_str(), AccountStatus::Active).await?
                }
                ChangeAccount::SetPermissions(id, p) => {
                    users::set_permissions(&mut conn, id.as_str(), &p.names()).await?
                }
            })
        })
    }
}

impl Handler<CheckStores> for AccountActor {
    type Result = ResponseFuture<StoreHealth>;

    fn handle(&mut self, _: CheckStores, _: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        Box::pin(async move {
            let postgres = db::ping(&stores.db).await.map_err(|e| e.to_string());
            let redis = stores.redis.ping().await.map_err(|e| e.to_string());
            StoreHealth { postgres, redis }
        })
    }
}

impl Handler<Panic> for AccountActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: account actor panics on request");
    }
}
