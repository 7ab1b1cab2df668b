//! The session bus: relays session ends announced by any instance (Redis pub/sub) to this
//! instance's session actors, so a logout on one instance is effective on all at once.
//!
//! It runs as a task on an arbiter and reconnects by itself. Whenever it (re)subscribes it
//! tells every session shard to drop its in-memory sessions, because announcements made
//! while it was not listening are lost; sessions are then re-read from Redis.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use secrecy::{ExposeSecret, SecretString};

use super::session::{parse_event_payload, Evict, EvictAll, SessionActor};
use super::shard::ShardSet;

pub async fn run(url: SecretString, channel: String, sessions: Arc<ShardSet<SessionActor>>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match subscribe(&url, &channel).await {
            Ok(mut pubsub) => {
                backoff = Duration::from_millis(100);
                sessions.tell_all(EvictAll);
                tracing::debug!("session bus subscribed");
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    if let Some((user, sid)) = parse_event_payload(&payload) {
                        sessions.tell(user, Evict(sid));
                    }
                }
                tracing::warn!("session bus lost its Redis subscription; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %e, "session bus cannot subscribe; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe(url: &SecretString, channel: &str) -> anyhow::Result<redis::aio::PubSub> {
    let client = redis::Client::open(url.expose_secret())?;
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}
