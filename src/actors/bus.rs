//! The session bus: relays session ends announced by any instance (Redis pub/sub) to this
//! instance's session actors, so a logout on one instance is effective on all at once; and,
//! on a second channel, cache invalidations (a product change) to its cache actors.
//!
//! It runs as a task on an arbiter and reconnects by itself. It publishes a heartbeat on the
//! channel and expects to hear it back; a subscription that falls silent is treated as
//! lost. Whenever it is not listening, `live` is false and the session actors read every
//! session from Redis instead of trusting their memory (falling back to it only if Redis
//! cannot be asked); when it (re)subscribes every shard re-checks what it remembered with
//! Redis, because announcements made meanwhile were missed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use secrecy::SecretString;

use crate::actors::front::FrontSet;
use crate::actors::identity::session::{Evict, EvictAll, SessionActor};
use crate::actors::identity::session_front::SessionFront;
use crate::actors::shard::ShardSet;
use crate::actors::telecom::cache::{CacheActor, Forget, ForgetCustomers};
use crate::actors::telecom::cache_front::CacheFront;
use crate::infra::identity::sessions::parse_event_payload;
use crate::infra::redis::{subscribe, PubSub, RedisStore};

const HEARTBEAT: Duration = Duration::from_secs(2);
const HEARTBEAT_PAYLOAD: &str = "heartbeat";

pub struct SessionBus {
    pub url: SecretString,
    pub redis: RedisStore,
    pub sessions: Arc<ShardSet<SessionActor>>,
    /// Cache invalidations ride the same subscription.
    pub cache: Arc<ShardSet<CacheActor>>,
    pub live: Arc<AtomicBool>,
    /// Advanced each time the bus stops listening (the session fronts' copies from before
    /// are not trusted again).
    pub turns: Arc<AtomicU64>,
    /// Told directly when a relayed message reaches no shard (the shard would have told
    /// them).
    pub session_fronts: Arc<FrontSet<SessionFront>>,
    pub cache_fronts: Arc<FrontSet<CacheFront>>,
}

impl SessionBus {
    pub async fn run(self) {
        let channel = self.redis.keys.session_events();
        let cache_channel = self.redis.keys.cache_events();
        let mut backoff = Duration::from_millis(100);
        loop {
            match subscribe(&self.url, &[&channel, &cache_channel]).await {
                Ok(pubsub) => {
                    backoff = Duration::from_millis(100);
                    self.sessions.deliver_all(EvictAll).await;
                    self.cache.deliver_all(ForgetCustomers).await;
                    self.live.store(true, Ordering::Release);
                    tracing::debug!("session bus subscribed");
                    self.listen(pubsub, &channel, &cache_channel).await;
                    // Not listening any more: copies are no longer trusted (and all are
                    // re-checked once the subscription is back).
                    self.live.store(false, Ordering::Release);
                    self.turns.fetch_add(1, Ordering::AcqRel);
                    tracing::warn!("session bus lost its Redis subscription; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "session bus cannot subscribe; retrying"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Relays announcements until the subscription ends or falls silent.
    async fn listen(&self, mut pubsub: PubSub, channel: &str, cache_channel: &str) {
        let mut messages = pubsub.on_message();
        let mut tick = tokio::time::interval(HEARTBEAT);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { return };
                    last_heard = Instant::now();
                    let Ok(payload) = msg.get_payload::<String>() else { continue };
                    if msg.get_channel_name() == cache_channel {
                        if self.cache.deliver(&payload, Forget(payload.clone())).await.is_err() {
                            // No shard took it (none replaced the dead one in time, or the
                            // mailbox stayed full): the fronts still hold the key.
                            self.cache_fronts.notify_all(Forget(payload));
                        }
                    } else if let Some((user, sid)) = parse_event_payload(&payload) {
                        if self.sessions.deliver(user, Evict(sid)).await.is_err() {
                            // No shard took it (none replaced the dead one in time, or the
                            // mailbox stayed full): the fronts still hold the session.
                            tracing::debug!("session shard unreachable while evicting");
                            self.session_fronts.notify_all(Evict(sid));
                        }
                    }
                }
                _ = tick.tick() => {
                    if last_heard.elapsed() > HEARTBEAT * 3 {
                        return;
                    }
                    let _ = self.redis.publish(channel, HEARTBEAT_PAYLOAD).await;
                }
            }
        }
    }
}
