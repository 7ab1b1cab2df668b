//! Identity's actors: sessions (token pairs in Redis, revocation on every instance) and
//! accounts (login, lockout, registration, management), with the password-hashing pool
//! they share. `Identity::start` is the one place its actor kinds are registered.

pub mod account;
pub mod session;
pub mod session_front;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::front::FrontSet;
use super::group::{Launcher, Placement};
use super::shard::ShardSet;
use crate::domain::identity::lockout::LockoutPolicy;
use crate::domain::identity::token::TokenKeys;
use crate::infra::identity::password::PasswordHasher;
use crate::metrics::Metrics;
use crate::settings::Settings;
use account::AccountActor;
use session::SessionActor;
use session_front::SessionFront;

/// Identity's actor sets of one instance.
pub struct Identity {
    pub sessions: Arc<ShardSet<SessionActor>>,
    /// One per HTTP worker (started by the server's factory with `start_session_front`).
    pub session_fronts: Arc<FrontSet<SessionFront>>,
    bus_live: Arc<AtomicBool>,
    /// Advanced by the session bus each time it stops listening: a front trusts only copies
    /// it got since (announcements made meanwhile were missed).
    pub bus_turns: Arc<AtomicU64>,
    pub accounts: Arc<ShardSet<AccountActor>>,
    pub hasher: Arc<PasswordHasher>,
}

/// The login hashing pool as `/admin/actors` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HasherSnapshot {
    pub concurrency: usize,
    pub capacity: usize,
    pub in_flight: usize,
}

/// What `/admin/actors` shows of identity besides its actor kinds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySnapshot {
    pub password_hasher: HasherSnapshot,
}

impl IdentitySnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &Metrics) {
        let hp = &self.password_hasher;
        m.set_hashing(hp.in_flight, hp.capacity, hp.concurrency);
    }
}

impl Identity {
    /// `bus_live` says whether the session bus is listening (shared with it).
    pub fn start(
        l: &mut Launcher,
        settings: &Settings,
        tokens: Arc<TokenKeys>,
        bus_live: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let hasher = Arc::new(PasswordHasher::new(&settings.auth)?);
        let session_ttl = Duration::from_secs(settings.cache.session_ttl_s);
        let session_lifetime = Duration::from_secs(settings.auth.session_lifetime_s);
        let session_fronts = l.enrol_fronts(FrontSet::new(
            "session_front",
            settings.actors.session_front.mailbox,
            l.reply_timeout(),
            settings.actors.retry_after_s,
        ));
        let (stores, fronts, live) = (l.stores(), session_fronts.clone(), bus_live.clone());
        let sessions = l.start(
            "session",
            settings.actors.session,
            Placement::Spread,
            move |cx| {
                SessionActor::new(
                    stores[cx.arbiter % stores.len()].redis.clone(),
                    tokens.clone(),
                    session_ttl,
                    session_lifetime,
                    live.clone(),
                    fronts.clone(),
                    cx.lifeline,
                )
            },
        );
        let policy = LockoutPolicy::new(
            settings.auth.max_failed_logins,
            settings.auth.lockout_minutes,
        );
        let (stores, limits, h) = (l.stores(), settings.rate_limit.clone(), hasher.clone());
        let accounts = l.start(
            "account",
            settings.actors.account,
            Placement::Spread,
            move |cx| {
                let s = stores[cx.arbiter % stores.len()].clone();
                AccountActor::new(s, h.clone(), policy, limits.clone(), cx.lifeline)
            },
        );
        Ok(Self {
            sessions,
            session_fronts,
            bus_live,
            bus_turns: Arc::new(AtomicU64::new(0)),
            accounts,
            hasher,
        })
    }

    /// Starts the calling HTTP worker's session front (on its thread).
    pub fn start_session_front(&self) -> Arc<ShardSet<SessionFront>> {
        let (sessions, live, turns) = (
            self.sessions.clone(),
            self.bus_live.clone(),
            self.bus_turns.clone(),
        );
        self.session_fronts.start_here(move |cx| {
            SessionFront::new(sessions.clone(), live.clone(), turns.clone(), cx.lifeline)
        })
    }

    pub fn snapshot(&self) -> IdentitySnapshot {
        IdentitySnapshot {
            password_hasher: HasherSnapshot {
                concurrency: self.hasher.concurrency(),
                capacity: self.hasher.capacity(),
                in_flight: self.hasher.in_flight(),
            },
        }
    }
}
