//! Actors: where state and I/O meet. Each file is one actor kind (its messages, state and
//! handlers); `shard` is the machinery they all run on.

pub mod account;
pub mod session;
pub mod session_bus;
pub mod shard;

use std::sync::Arc;

use serde::Serialize;

use crate::infra::password::PasswordHasher;
use account::AccountActor;
use session::SessionActor;
use shard::{KindSnapshot, ShardSet};

/// Every actor set of one instance; what HTTP handlers talk to.
pub struct Actors {
    pub sessions: Arc<ShardSet<SessionActor>>,
    pub accounts: ShardSet<AccountActor>,
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

impl Actors {
    pub fn snapshot(&self) -> (Vec<KindSnapshot>, HasherSnapshot) {
        (
            vec![self.sessions.snapshot(), self.accounts.snapshot()],
            HasherSnapshot {
                concurrency: self.hasher.concurrency(),
                capacity: self.hasher.capacity(),
                in_flight: self.hasher.in_flight(),
            },
        )
    }

    /// Actor kinds that `/admin/faults/panic?actor=KIND` accepts.
    pub const KINDS: [&'static str; 2] = ["session", "account"];

    pub fn begin_shutdown(&self) {
        self.sessions.begin_shutdown();
        self.accounts.begin_shutdown();
    }
}
