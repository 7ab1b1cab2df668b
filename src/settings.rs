//! Typed configuration: `config.toml` overridden by `PHONEBILL__SECTION__KEY`.
//!
//! Every struct denies unknown fields so a typo in an operator's file stops start-up instead
//! of being ignored. Secrets are `SecretString` and never reach `Debug` output or logs.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The JWT secret earlier versions of `config.toml` shipped: public, so always refused.
pub const DEFAULT_JWT_SECRET: &str = "phonebill-development-secret-change-me-0123456789";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration error: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration error: `{key}` {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub jwt: JwtSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub cors: CorsSettings,
    pub kos: KosSettings,
    pub mvno: MvnoSettings,
    pub locale: LocaleSettings,
    pub products: ProductSettings,
    pub store: StoreSettings,
    pub cache: CacheSettings,
    pub actors: ActorsSettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub mode: Mode,
    pub max_body_bytes: usize,
    pub shutdown_timeout_s: u64,
    pub body_timeout_ms: u64,
    pub max_connections_per_worker: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_max_size: u32,
    pub acquire_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub idle_timeout_s: u64,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: SecretString,
    pub key_prefix: String,
    pub pool_max_size: u32,
    pub acquire_timeout_ms: u64,
    pub command_timeout_ms: u64,
    pub unavailable_pause_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub key_id: String,
    pub rotate_every_s: u64,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    pub leeway_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub max_failed_logins: u32,
    pub lockout_minutes: u32,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub hash_concurrency: usize,
    pub hash_queue: usize,
    pub self_registration: bool,
    pub allow_unknown_lines: bool,
    pub session_lifetime_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub login_per_ip_per_minute: u32,
    pub register_per_ip_per_minute: u32,
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
    pub max_age_s: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KosSettings {
    pub base_url: String,
    pub simulator_port: u16,
    pub inquiry_timeout_ms: u64,
    pub change_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub max_calls_per_minute: u32,
    pub registration_calls_per_minute: u32,
    pub max_concurrent_calls: usize,
    pub breaker: BreakerSettings,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSettings {
    pub sliding_window_size: usize,
    pub minimum_calls: usize,
    pub failure_rate_threshold: u8,
    pub slow_call_duration_ms: u64,
    pub slow_call_rate_threshold: u8,
    pub wait_open_ms: u64,
    pub half_open_calls: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MvnoSettings {
    pub base_url: String,
    pub timeout_ms: u64,
    pub poll_interval_ms: u64,
    pub batch_size: u32,
    pub per_post: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub lease_s: u64,
    pub keep_delivered_days: u32,
    pub vacuum_every: u32,
}

/// Mailbox of an actor kind that runs once per instance (`[actors.KIND]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingleActorSettings {
    pub mailbox: usize,
}

impl SingleActorSettings {
    pub fn as_kind(self) -> ActorKindSettings {
        ActorKindSettings {
            mailbox: self.mailbox,
            shards: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSettings {
    pub idempotency_ttl_s: u64,
    pub first_check_delay_ms: u64,
    pub reconcile_interval_ms: u64,
    pub reconcile_batch: u32,
    pub reconcile_max_backoff_ms: u64,
}

/// `[store]`: the membership store's rules (SPEC section 9).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub charge_unit: i64,
    pub charge_min: i64,
    pub charge_max: i64,
    pub balance_max: i64,
    pub pending_recovery_s: u64,
    pub popular_window_hours: u32,
    pub popular_size: u32,
    pub max_order_items: u32,
    pub max_item_quantity: u32,
    /// Most claims of one campaign written in one transaction.
    pub coupon_batch_max: usize,
    /// How often the order recovery looks for overdue pending orders, milliseconds.
    pub recovery_interval_ms: u64,
    /// Most orders the recovery settles per round.
    pub recovery_batch: u32,
    /// How often the popular products are read again, milliseconds.
    pub popular_refresh_ms: u64,
}

/// The largest `[store] balance_max` accepted (SPEC section 9).
pub const STORE_BALANCE_CEILING: i64 = 10_000_000;

impl StoreSettings {
    pub fn order_limits(&self) -> crate::domain::store::order::OrderLimits {
        crate::domain::store::order::OrderLimits {
            max_items: self.max_order_items as usize,
            max_quantity: i32::try_from(self.max_item_quantity).unwrap_or(i32::MAX),
        }
    }

    pub fn charge_rules(&self) -> crate::domain::store::points::ChargeRules {
        crate::domain::store::points::ChargeRules {
            unit: self.charge_unit,
            min: self.charge_min,
            max: self.charge_max,
            balance_max: self.balance_max,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleSettings {
    pub time_zone: String,
}

impl LocaleSettings {
    /// The configured zone; validated at load, so this falls back only in hand-built settings.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Asia::Seoul)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    pub customer_ttl_s: u64,
    pub bill_ttl_s: u64,
    pub products_ttl_s: u64,
    pub not_found_ttl_s: u64,
    pub ttl_jitter_percent: u8,
    pub memory_entries: usize,
    pub redis_timeout_ms: u64,
    pub redis_retry_ms: u64,
    pub session_ttl_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySettings {
    pub mailbox: usize,
    pub batch_size: usize,
    pub write_connections: usize,
    pub max_buffered: usize,
    pub flush_interval_ms: u64,
    pub spool_dir: std::path::PathBuf,
    pub replay_interval_ms: u64,
    pub write_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorsSettings {
    pub arbiters: usize,
    pub reply_timeout_ms: u64,
    pub retry_after_s: u64,
    pub session: ActorKindSettings,
    pub account: ActorKindSettings,
    pub cache: ActorKindSettings,
    pub history: HistorySettings,
    pub products: ActorKindSettings,
    pub reconciler: SingleActorSettings,
    pub kos: SingleActorSettings,
    pub notifier: SingleActorSettings,
    pub wallet: ActorKindSettings,
    pub shop: ActorKindSettings,
    pub coupon: ActorKindSettings,
    pub order: ActorKindSettings,
    pub recovery: SingleActorSettings,
    pub popular: SingleActorSettings,
    pub session_front: SingleActorSettings,
    pub cache_front: CacheFrontSettings,
}

/// The cache fronts, one per HTTP worker (`[actors.cache_front]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFrontSettings {
    pub mailbox: usize,
    pub entries: usize,
}

/// Mailbox and sharding of one actor kind (`[actors.KIND]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorKindSettings {
    pub mailbox: usize,
    pub shards: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub fault_injection: bool,
    pub bench_endpoints: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

impl Settings {
    /// Reads `path` (if it exists) and the `PHONEBILL__*` environment, then validates.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let builder = config::Config::builder()
            .add_source(config::File::from(path).required(false))
            .add_source(
                config::Environment::with_prefix("PHONEBILL")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("cors.allowed_origins")
                    .try_parsing(true),
            );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Range checks serde cannot express; each failure names its key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let secret = self.jwt.secret.expose_secret();
        if secret == DEFAULT_JWT_SECRET {
            return Err(invalid(
                "jwt.secret",
                "is the secret an earlier config.toml shipped (public); leave it empty to have one generated",
            ));
        }
        if !secret.is_empty() && secret.len() < 32 {
            return Err(invalid(
                "jwt.secret",
                "must be empty (generated) or at least 32 characters",
            ));
        }
        if self.jwt.key_id.is_empty()
            || self.jwt.key_id.len() > 32
            || !self
                .jwt
                .key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "jwt.key_id",
                "must be 1-32 letters, digits, - or _",
            ));
        }
        if self.server.mode == Mode::Production
            && (self.admin.fault_injection || self.admin.bench_endpoints)
        {
            return Err(invalid(
                "admin.fault_injection",
                "fault injection and bench endpoints are refused in production mode",
            ));
        }
        if self.jwt.rotate_every_s < self.jwt.refresh_ttl_s {
            return Err(invalid(
                "jwt.rotate_every_s",
                "must be at least jwt.refresh_ttl_s (a refresh token must stay verifiable through the next period)",
            ));
        }
        positive("server.max_body_bytes", self.server.max_body_bytes)?;
        positive(
            "server.body_timeout_ms",
            self.server.body_timeout_ms as usize,
        )?;
        positive(
            "server.max_connections_per_worker",
            self.server.max_connections_per_worker,
        )?;
        positive(
            "database.pool_max_size",
            self.database.pool_max_size as usize,
        )?;
        positive(
            "database.acquire_timeout_ms",
            self.database.acquire_timeout_ms as usize,
        )?;
        positive(
            "database.connect_timeout_ms",
            self.database.connect_timeout_ms as usize,
        )?;
        positive("redis.pool_max_size", self.redis.pool_max_size as usize)?;
        positive(
            "redis.acquire_timeout_ms",
            self.redis.acquire_timeout_ms as usize,
        )?;
        positive(
            "redis.command_timeout_ms",
            self.redis.command_timeout_ms as usize,
        )?;
        positive("jwt.access_ttl_s", self.jwt.access_ttl_s as usize)?;
        positive(
            "auth.session_lifetime_s",
            self.auth.session_lifetime_s as usize,
        )?;
        positive("jwt.refresh_ttl_s", self.jwt.refresh_ttl_s as usize)?;
        positive(
            "auth.max_failed_logins",
            self.auth.max_failed_logins as usize,
        )?;
        positive("auth.lockout_minutes", self.auth.lockout_minutes as usize)?;
        positive(
            "auth.argon2_iterations",
            self.auth.argon2_iterations as usize,
        )?;
        positive(
            "auth.argon2_parallelism",
            self.auth.argon2_parallelism as usize,
        )?;
        if self.auth.argon2_memory_kib < 8 * self.auth.argon2_parallelism {
            return Err(invalid(
                "auth.argon2_memory_kib",
                "must be at least 8 × argon2_parallelism",
            ));
        }
        positive("cache.session_ttl_s", self.cache.session_ttl_s as usize)?;
        positive(
            "actors.reply_timeout_ms",
            self.actors.reply_timeout_ms as usize,
        )?;
        positive("actors.session.mailbox", self.actors.session.mailbox)?;
        positive("actors.session.shards", self.actors.session.shards)?;
        positive("actors.account.mailbox", self.actors.account.mailbox)?;
        positive("actors.account.shards", self.actors.account.shards)?;
        positive("actors.kos.mailbox", self.actors.kos.mailbox)?;
        positive("actors.cache.mailbox", self.actors.cache.mailbox)?;
        positive(
            "actors.session_front.mailbox",
            self.actors.session_front.mailbox,
        )?;
        positive(
            "actors.cache_front.mailbox",
            self.actors.cache_front.mailbox,
        )?;
        positive(
            "actors.cache_front.entries",
            self.actors.cache_front.entries,
        )?;
        positive("actors.products.mailbox", self.actors.products.mailbox)?;
        positive("actors.products.shards", self.actors.products.shards)?;
        positive("actors.reconciler.mailbox", self.actors.reconciler.mailbox)?;
        positive(
            "products.idempotency_ttl_s",
            self.products.idempotency_ttl_s as usize,
        )?;
        positive(
            "products.reconcile_interval_ms",
            self.products.reconcile_interval_ms as usize,
        )?;
        positive(
            "products.reconcile_batch",
            self.products.reconcile_batch as usize,
        )?;
        positive(
            "products.reconcile_max_backoff_ms",
            self.products.reconcile_max_backoff_ms as usize,
        )?;
        positive("actors.cache.shards", self.actors.cache.shards)?;
        for (key, kind) in [
            ("actors.wallet", self.actors.wallet),
            ("actors.shop", self.actors.shop),
            ("actors.coupon", self.actors.coupon),
            ("actors.order", self.actors.order),
        ] {
            if kind.mailbox == 0 || kind.shards == 0 {
                return Err(invalid(key, "mailbox and shards must be greater than 0"));
            }
        }
        let st = &self.store;
        for (key, v) in [
            ("store.charge_unit", st.charge_unit),
            ("store.charge_min", st.charge_min),
            ("store.charge_max", st.charge_max),
            ("store.balance_max", st.balance_max),
        ] {
            if v < 1 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if st.charge_min > st.charge_max {
            return Err(invalid(
                "store.charge_min",
                "must not exceed store.charge_max",
            ));
        }
        if st.balance_max > STORE_BALANCE_CEILING {
            return Err(invalid(
                "store.balance_max",
                "must be at most 10000000 (SPEC section 9)",
            ));
        }
        positive("store.pending_recovery_s", st.pending_recovery_s as usize)?;
        positive(
            "store.popular_window_hours",
            st.popular_window_hours as usize,
        )?;
        positive("store.popular_size", st.popular_size as usize)?;
        positive("store.max_order_items", st.max_order_items as usize)?;
        positive("store.max_item_quantity", st.max_item_quantity as usize)?;
        positive("store.coupon_batch_max", st.coupon_batch_max)?;
        positive(
            "store.recovery_interval_ms",
            st.recovery_interval_ms as usize,
        )?;
        positive("store.recovery_batch", st.recovery_batch as usize)?;
        positive("store.popular_refresh_ms", st.popular_refresh_ms as usize)?;
        positive("actors.recovery.mailbox", self.actors.recovery.mailbox)?;
        positive("actors.popular.mailbox", self.actors.popular.mailbox)?;
        positive("actors.history.mailbox", self.actors.history.mailbox)?;
        positive("actors.history.batch_size", self.actors.history.batch_size)?;
        positive(
            "actors.history.write_connections",
            self.actors.history.write_connections,
        )?;
        positive(
            "actors.history.flush_interval_ms",
            self.actors.history.flush_interval_ms as usize,
        )?;
        positive(
            "actors.history.replay_interval_ms",
            self.actors.history.replay_interval_ms as usize,
        )?;
        if self.actors.history.write_timeout_ms < 1000 {
            return Err(invalid(
                "actors.history.write_timeout_ms",
                "must be at least 1000",
            ));
        }
        if self.actors.history.batch_size > 4000 {
            return Err(invalid(
                "actors.history.batch_size",
                "must be at most 4000 (PostgreSQL bind limit)",
            ));
        }
        if self.actors.history.write_connections >= self.database.pool_max_size as usize {
            return Err(invalid(
                "actors.history.write_connections",
                "must be below database.pool_max_size (the writer's arbiter serves others too)",
            ));
        }
        if self.locale.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid("locale.time_zone", "is not an IANA time zone name"));
        }
        positive("cache.customer_ttl_s", self.cache.customer_ttl_s as usize)?;
        positive("cache.bill_ttl_s", self.cache.bill_ttl_s as usize)?;
        positive("cache.products_ttl_s", self.cache.products_ttl_s as usize)?;
        positive("cache.memory_entries", self.cache.memory_entries)?;
        positive(
            "cache.redis_timeout_ms",
            self.cache.redis_timeout_ms as usize,
        )?;
        if self.cache.ttl_jitter_percent > 50 {
            return Err(invalid("cache.ttl_jitter_percent", "must be at most 50"));
        }
        positive("actors.notifier.mailbox", self.actors.notifier.mailbox)?;
        for (key, url) in [
            ("kos.base_url", &self.kos.base_url),
            ("mvno.base_url", &self.mvno.base_url),
        ] {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    key,
                    "must be empty or start with http:// or https://",
                ));
            }
        }
        positive(
            "kos.inquiry_timeout_ms",
            self.kos.inquiry_timeout_ms as usize,
        )?;
        positive("kos.change_timeout_ms", self.kos.change_timeout_ms as usize)?;
        positive(
            "kos.connect_timeout_ms",
            self.kos.connect_timeout_ms as usize,
        )?;
        positive("kos.max_concurrent_calls", self.kos.max_concurrent_calls)?;
        let b = &self.kos.breaker;
        positive("kos.breaker.sliding_window_size", b.sliding_window_size)?;
        positive("kos.breaker.half_open_calls", b.half_open_calls)?;
        positive("kos.breaker.wait_open_ms", b.wait_open_ms as usize)?;
        positive(
            "kos.breaker.slow_call_duration_ms",
            b.slow_call_duration_ms as usize,
        )?;
        if b.minimum_calls > b.sliding_window_size {
            return Err(invalid(
                "kos.breaker.minimum_calls",
                "must not exceed sliding_window_size",
            ));
        }
        for (key, pct) in [
            (
                "kos.breaker.failure_rate_threshold",
                b.failure_rate_threshold,
            ),
            (
                "kos.breaker.slow_call_rate_threshold",
                b.slow_call_rate_threshold,
            ),
        ] {
            if !(1..=100).contains(&pct) {
                return Err(invalid(key, "must be a percentage from 1 to 100"));
            }
        }
        positive("mvno.timeout_ms", self.mvno.timeout_ms as usize)?;
        positive("mvno.poll_interval_ms", self.mvno.poll_interval_ms as usize)?;
        positive("mvno.batch_size", self.mvno.batch_size as usize)?;
        positive("mvno.per_post", self.mvno.per_post as usize)?;
        positive("mvno.retry_base_ms", self.mvno.retry_base_ms as usize)?;
        positive("mvno.lease_s", self.mvno.lease_s as usize)?;
        for origin in &self.cors.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(invalid(
                    "cors.allowed_origins",
                    format!("entry {origin:?} must start with http:// or https://"),
                ));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid("log.level", "is not a valid tracing filter"));
        }
        Ok(())
    }
}

fn positive(key: &'static str, value: usize) -> Result<(), SettingsError> {
    if value == 0 {
        Err(invalid(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}

/// CPU cores available to this process, at least 1.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Settings {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        Settings::load(&path).unwrap()
    }

    #[test]
    fn shipped_file_is_valid() {
        let s = shipped();
        assert_eq!(s.jwt.access_ttl_s, 1800);
        assert_eq!(s.auth.max_failed_logins, 5);
    }

    #[test]
    fn no_secret_is_shipped_and_the_old_public_one_is_refused() {
        let mut s = shipped();
        assert!(
            s.jwt.secret.expose_secret().is_empty(),
            "config.toml ships no secret"
        );
        s.server.mode = Mode::Production;
        s.validate().unwrap();
        s.jwt.secret = SecretString::from(DEFAULT_JWT_SECRET);
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("jwt.secret"), "{err}");
        s.jwt.secret = SecretString::from("short");
        assert!(s.validate().is_err());
        s.jwt.secret = SecretString::from("x".repeat(40));
        s.validate().unwrap();
    }

    #[test]
    fn zero_mailbox_is_named() {
        let mut s = shipped();
        s.actors.session.mailbox = 0;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("actors.session.mailbox"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s = shipped();
        let debug = format!("{s:?}");
        assert!(!debug.contains("phonebill-development-secret"), "{debug}");
        assert!(!debug.contains("postgres://"), "{debug}");
    }
}
