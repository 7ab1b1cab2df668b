//! `spawn_app()`: the real application on port 0, against real PostgreSQL and Redis, each
//! test with its own database and its own Redis key prefix, both removed when it ends.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use phonebill::actors::Actors;
use phonebill::settings::Settings;
use phonebill::startup::Application;
use reqwest::{Client, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;

pub const PASSWORD: &str = "Passw0rd!";

pub fn pg_base() -> String {
    std::env::var("PHONEBILL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_url() -> String {
    std::env::var("PHONEBILL_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Settings for a test: the shipped `config.toml`, isolated and made small.
pub fn test_settings(db_name: &str, prefix: &str) -> Settings {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let mut s = Settings::load(&path).expect("config.toml loads");
    s.server.port = 0;
    s.server.workers = 1;
    s.server.shutdown_timeout_s = 1;
    s.database.url = SecretString::from(format!("{}/{db_name}", pg_base()));
    s.database.pool_max_size = 3;
    // The whole suite runs many instances at once on two cores (debug builds): the shipped
    // waits for a connection and a Redis command (sized for a service with the machine to
    // itself) are lengthened so that a moment of that load is not taken for an outage (two
    // instances' first requests then all answered 503). Tests of outages set their own.
    s.database.acquire_timeout_ms = 5000;
    s.redis.acquire_timeout_ms = 2000;
    s.redis.command_timeout_ms = 2000;
    s.actors.history.write_connections = 2;
    s.database.migrate_on_start = true;
    s.redis.url = SecretString::from(redis_url());
    s.redis.key_prefix = prefix.to_string();
    s.actors.history.spool_dir = spool_dir(prefix);
    s.actors.arbiters = 2;
    s.admin.fault_injection = true;
    s.rate_limit.login_per_ip_per_minute = 0;
    s.rate_limit.register_per_ip_per_minute = 0;
    s.kos.registration_calls_per_minute = 0;
    s
}

/// How often [`poll_until`] and [`eventually`] look again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Runs `probe` until `done` holds for what it found or `timeout` has passed, and returns
/// the last value found either way: the caller asserts on it as it would have after a
/// fixed wait (with its own message), only without guessing how long that wait must be.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let found = probe().await;
        if done(&found) || started.elapsed() >= timeout {
            return found;
        }
        actix_web::rt::time::sleep(POLL_EVERY).await;
    }
}

/// Waits until `check` holds; panics naming `what` when it does not within `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !poll_until(timeout, &mut check, |ok| *ok).await {
        panic!("not within {timeout:?}: {what}");
    }
}

/// The history spool of a test: under cargo's temporary directory for integration tests
/// (`target/tmp`), named after its prefix.
pub fn spool_dir(prefix: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(prefix.replace(':', "_"))
}

/// The files under a spool directory (its instance slots included) whose names start so.
pub fn spool_files(root: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            {
                found.push(path);
            }
        }
    }
    found
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub settings: Settings,
    pub actors: Arc<Actors>,
    /// The KOS simulator this instance talks to (its own built-in one unless configured).
    pub kos_url: String,
    server: ServerHandle,
    db_name: String,
    prefix: String,
    owner: bool,
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

/// Starts an application with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an application after `tweak` adjusted its settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    // `PHONEBILL_TEST_LOG=debug cargo test NAME` shows the application's log.
    if let Ok(level) = std::env::var("PHONEBILL_TEST_LOG") {
        phonebill::telemetry::init(&phonebill::settings::LogSettings {
            format: phonebill::settings::LogFormat::Text,
            level,
        });
    }
    let id = Uuid::new_v4().simple().to_string();
    let db_name = format!("pbtest_{id}");
    let prefix = format!("pbtest:{id}:");
    let mut settings = test_settings(&db_name, &prefix);
    tweak(&mut settings);
    let mut app = start(settings, db_name, prefix).await;
    app.owner = true;
    app.seed().await;
    app
}

/// Starts `n` instances at the same moment on one new database and Redis prefix, so their
/// start-ups (migrations, the shared JWT master) race; the first owns the database.
pub async fn spawn_apps_together(n: usize) -> Vec<TestApp> {
    let id = Uuid::new_v4().simple().to_string();
    let db_name = format!("pbtest_{id}");
    let prefix = format!("pbtest:{id}:");
    let settings = test_settings(&db_name, &prefix);
    let starts = (0..n).map(|_| start(settings.clone(), db_name.clone(), prefix.clone()));
    let mut apps = futures_util::future::join_all(starts).await;
    if let Some(first) = apps.first_mut() {
        first.owner = true;
        first.seed().await;
    }
    apps
}

async fn start(settings: Settings, db_name: String, prefix: String) -> TestApp {
    let application = Application::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let actors = application.actors();
    let kos_url = application.kos_url().to_string();
    let server = application.server_handle();
    actix_web::rt::spawn(application.run_until_stopped());
    TestApp {
        address,
        client: Client::builder().build().expect("client"),
        settings,
        actors,
        kos_url,
        server,
        db_name,
        prefix,
        owner: false,
    }
}

impl TestApp {
    /// A second instance sharing this one's database and Redis prefix.
    pub async fn spawn_peer(&self) -> TestApp {
        let mut settings = self.settings.clone();
        settings.database.migrate_on_start = true;
        start(settings, self.db_name.clone(), self.prefix.clone()).await
    }

    /// Stops this instance gracefully (its database stays until the owner is dropped).
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }

    /// Drives the KOS simulator's fault API, as an operator would.
    pub async fn kos_fault(&self, fault: Value) {
        let res = self
            .client
            .put(format!("{}/api/v1/kos/admin/faults", self.kos_url))
            .json(&fault)
            .send()
            .await
            .expect("fault API");
        assert!(res.status().is_success(), "fault API refused {fault}");
    }

    /// Calls per endpoint the simulator has seen.
    pub async fn kos_stats(&self) -> Value {
        self.client
            .get(format!("{}/api/v1/kos/admin/stats", self.kos_url))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    /// Creates a customer on a line in KOS, as the web client's register page does.
    pub async fn kos_customer(&self, customer_id: &str, line: &str) {
        let res = self
            .client
            .post(format!("{}/api/v1/kos/mock-datas", self.kos_url))
            .json(&json!({ "customerId": customer_id, "lineNumber": line }))
            .send()
            .await
            .expect("mock-datas");
        assert!(res.status().is_success());
    }

    /// The demo data. Set-up, not what is tested: retried a few times when the whole suite
    /// on two cores leaves a connection unacquired within the pool's time-out.
    pub async fn seed(&self) {
        let mut tries = 0;
        loop {
            match phonebill::seed::run(&self.settings, 0).await {
                Ok(_) => return,
                Err(e) if tries < 4 && format!("{e}").contains("unavailable") => {
                    tries += 1;
                    eprintln!("seed-demo: {e}; trying again");
                    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("seed-demo: {e:?}"),
            }
        }
    }

    /// A connection of the test's own to its database.
    pub async fn db(&self) -> AsyncPgConnection {
        use secrecy::ExposeSecret as _;
        AsyncPgConnection::establish(self.settings.database.url.expose_secret())
            .await
            .expect("the test's database")
    }

    /// The one number `sql` selects (as `n`).
    pub async fn number(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Num {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(sql)
            .get_result::<Num>(&mut self.db().await)
            .await
            .expect("a number")
            .n
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn post_login(&self, user: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({ "userId": user, "password": password }),
            None,
        )
        .await
    }

    /// Logs in and asserts success. Set-up, not what is tested: a `503` (the hashing pool
    /// shedding while the whole suite hashes passwords on two cores) is retried a few times,
    /// as a client told `Retry-After` would; the tests of shedding call `post_login`.
    pub async fn login(&self, user: &str) -> Tokens {
        let mut res = self.post_login(user, PASSWORD).await;
        for _ in 0..5 {
            if res.status() != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(500)).await;
            res = self.post_login(user, PASSWORD).await;
        }
        assert_eq!(res.status(), StatusCode::OK, "login of {user}");
        let body: Value = res.json().await.expect("login json");
        Tokens {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_string(),
            body,
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({ "refreshToken": refresh_token }),
            None,
        )
        .await
    }

    pub async fn logout(&self, access: &str) -> Response {
        self.post_json("/api/v1/auth/logout", &json!({}), Some(access))
            .await
    }

    pub async fn verify(&self, access: &str) -> StatusCode {
        self.get("/api/v1/auth/verify", Some(access)).await.status()
    }

    pub async fn admin_actors(&self) -> Value {
        let admin = self.login("admin").await;
        let res = self.get("/admin/actors", Some(&admin.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("actors json")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let db_name = self.db_name.clone();
        let prefix = self.prefix.clone();
        // Drop runs inside the test's runtime; clean up from a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) =
                    AsyncPgConnection::establish(&format!("{}/postgres", pg_base())).await
                {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
                    ))
                    .execute(&mut conn)
                    .await;
                }
                // The application still runs until the process ends: once its database is
                // gone its history writer spools what it held; let it, then remove the spool.
                // A fixed grace period: a write under way is in no snapshot to poll.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = std::fs::remove_dir_all(spool_dir(&prefix));
                if let Ok(client) = redis::Client::open(redis_url()) {
                    if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                        let keys: Vec<String> = redis::cmd("KEYS")
                            .arg(format!("{prefix}*"))
                            .query_async(&mut conn)
                            .await
                            .unwrap_or_default();
                        if !keys.is_empty() {
                            let _: Result<(), _> =
                                redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                        }
                    }
                }
            });
        })
        .join();
    }
}

/// A KOS/MVNO simulator of the test's own (its state outlives any phonebill instance).
pub fn standalone_simulator() -> String {
    let (port, server) = phonebill::simulator::start("127.0.0.1", 0, 1).expect("simulator starts");
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// What the MVNO receiver of the simulator at `sim` has received.
pub async fn mvno_received(client: &Client, sim: &str) -> Vec<Value> {
    let body: Value = client
        .get(format!("{sim}/api/v1/mvno/admin/received"))
        .send()
        .await
        .expect("received listing")
        .json()
        .await
        .expect("received json");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The envelope's failure shape, asserted in one place.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("x-request-id header");
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["resultCode"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["traceId"], header_id.as_str(), "{body}");
    body
}

/// The product a line has now, as the product screen shows it to `token`'s owner.
pub async fn current_product(app: &TestApp, token: &str) -> String {
    let body: Value = app
        .get("/api/v1/products/customer", Some(token))
        .await
        .json()
        .await
        .unwrap();
    body["data"]["currentProduct"]["productCode"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A product on sale from the same operator that differs from `current` (a change that
/// passes the pre-check).
pub fn other_product(current: &str) -> &'static str {
    if current == "LTE-BASIC-001" {
        "LTE-PREMIUM-001"
    } else {
        "LTE-BASIC-001"
    }
}
