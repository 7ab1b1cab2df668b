//! PostgreSQL: bb8 pools of diesel-async connections, and migrations under an advisory lock.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use diesel::RunQueryDsl as _;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures_util::FutureExt as _;

use crate::settings::DatabaseSettings;
use secrecy::ExposeSecret;

pub type DbPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
/// Advisory lock key held while migrating ("phonebill" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x70686f6e6562;

/// Builds a pool without connecting; connections open on first use, on the caller's runtime.
/// Must be called inside a tokio runtime (the pool's reaper task is spawned there).
pub fn pool(settings: &DatabaseSettings) -> DbPool {
    let connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
    let mut config = ManagerConfig::default();
    config.custom_setup = Box::new(move |url| {
        let url = url.to_string();
        async move {
            tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(&url))
                .await
                .unwrap_or_else(|_| {
                    Err(diesel::ConnectionError::BadConnection(
                        "connect timed out".into(),
                    ))
                })
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        settings.url.expose_secret(),
        config,
    );
    bb8::Pool::builder()
        .max_size(settings.pool_max_size)
        .min_idle(None)
        .connection_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .idle_timeout(Some(Duration::from_secs(settings.idle_timeout_s.max(1))))
        .test_on_check_out(false)
        .build_unchecked(manager)
}

/// Creates the database if it is missing, then applies pending migrations while holding a
/// PostgreSQL advisory lock, so that several instances starting together migrate once.
/// Blocks: call it outside any async runtime (diesel's migration harness drives its own).
pub fn migrate(url: &str) -> anyhow::Result<()> {
    type Conn = AsyncConnectionWrapper<AsyncPgConnection>;
    let mut conn = match <Conn as diesel::Connection>::establish(url) {
        Ok(c) => c,
        Err(e) if e.to_string().contains("does not exist") => {
            create_database(url)?;
            <Conn as diesel::Connection>::establish(url)
                .context("connecting to PostgreSQL after creating the database")?
        }
        Err(e) => return Err(anyhow!("connecting to PostgreSQL: {e}")),
    };
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let outcome = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| anyhow!("running migrations: {e}"));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let applied = outcome?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(())
}

/// The master secret of the rotating JWT keys, shared by every instance: created once, by
/// whichever instance asks first (a concurrent second insert does nothing), then read.
/// Blocks: call it outside any async runtime, after the migrations.
pub fn jwt_master(url: &str) -> anyhow::Result<Vec<u8>> {
    use diesel::sql_types::Bytea;
    use rand::RngCore as _;
    #[derive(diesel::QueryableByName)]
    struct Master {
        #[diesel(sql_type = Bytea)]
        secret: Vec<u8>,
    }
    type Conn = AsyncConnectionWrapper<AsyncPgConnection>;
    let mut conn = <Conn as diesel::Connection>::establish(url)
        .map_err(|e| anyhow!("connecting to PostgreSQL: {e}"))?;
    let mut fresh = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    diesel::sql_query(
        "INSERT INTO jwt_master (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
    )
    .bind::<Bytea, _>(&fresh)
    .execute(&mut conn)
    .context("storing the JWT master secret (are the migrations applied?)")?;
    let master: Master = diesel::sql_query("SELECT secret FROM jwt_master WHERE id = 1")
        .get_result(&mut conn)
        .context("reading the JWT master secret")?;
    Ok(master.secret)
}

/// Splits `postgres://…/name?opts` into the URL of the maintenance database and `name`.
fn split_database_name(url: &str) -> anyhow::Result<(String, String)> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let Some((prefix, name)) = base.rsplit_once('/') else {
        bail!("database.url has no database name");
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("database.url: database name must be letters, digits and _ to be created");
    }
    let mut admin = format!("{prefix}/postgres");
    if let Some(q) = query {
        admin.push('?');
        admin.push_str(q);
    }
    Ok((admin, name.to_string()))
}

fn create_database(url: &str) -> anyhow::Result<()> {
    let (admin_url, name) = split_database_name(url)?;
    let mut conn =
        <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&admin_url)
            .context("connecting to the postgres maintenance database")?;
    match diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn) {
        Ok(_) => {
            tracing::info!(database = %name, "database created");
            Ok(())
        }
        // Another instance created it first ("already exists"), or at the same moment (a
        // unique violation in PostgreSQL's own catalogue).
        Err(e) if e.to_string().contains("already exists") => Ok(()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(()),
        Err(e) => Err(anyhow!("creating database {name}: {e}")),
    }
}

/// Whether PostgreSQL answers (`SELECT 1` on a pooled connection).
pub async fn ping(pool: &DbPool) -> Result<(), crate::infra::StoreError> {
    let mut conn = pool.get().await?;
    diesel_async::RunQueryDsl::execute(diesel::sql_query("SELECT 1"), &mut conn).await?;
    Ok(())
}

/// A raw SQL statement the connection keeps prepared: `diesel::sql_query` is parsed and
/// planned by PostgreSQL at every use (diesel cannot know its text is constant, so it never
/// caches it), which costs an extra round trip and the planning of every statement. Wrap
/// only statements whose text is a constant (binds as `$n`): the cache is keyed by the text.
/// `Prepared(diesel::sql_query(SQL).bind::<T, _>(v)...)`, then run it as usual.
pub struct Prepared<Q>(pub Q);

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for Prepared<Q>
{
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(out)
    }

    fn is_safe_to_cache_prepared(&self, _: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_split_from_the_url() {
        let (admin, name) =
            split_database_name("postgres://u:p@h:5432/phonebill?sslmode=disable").unwrap();
        assert_eq!(admin, "postgres://u:p@h:5432/postgres?sslmode=disable");
        assert_eq!(name, "phonebill");
        assert!(split_database_name("postgres://h/bad;name").is_err());
    }
}
