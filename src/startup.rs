//! Builds the whole application from `Settings`: migrations, arbiters, store pools, actors,
//! the session bus and the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::Arbiter;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use secrecy::ExposeSecret;

use crate::actors::group::Launcher;
use crate::actors::telecom::Endpoints;
use crate::actors::Actors;
use crate::domain::identity::token::{KeySource, TokenKeys};
use crate::http::{self, error, middleware, AppState};
use crate::infra::redis::RedisStore;
use crate::infra::{db, Stores};
use crate::settings::{cores, Settings};

pub struct Application {
    port: u16,
    server: Server,
    actors: Arc<Actors>,
    arbiters: Vec<Arbiter>,
    kos_url: String,
    mvno_url: String,
    simulator: Option<actix_web::dev::ServerHandle>,
}

impl Application {
    /// Start-up: everything that can fail does so here, with a message naming the cause.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        if settings.database.migrate_on_start {
            migrate_off_runtime(settings.database.url.expose_secret().to_string()).await?;
        }
        let arbiters: Vec<Arbiter> = (0..count_or_cores(settings.actors.arbiters))
            .map(|_| Arbiter::new())
            .collect();
        let tokens = Arc::new(token_keys(&settings).await?);
        let metrics = Arc::new(crate::metrics::Metrics::new()?);
        let simulator = Simulator::start_if_needed(&settings)?;
        let endpoints = Endpoints {
            kos_url: simulator.or_it(&settings.kos.base_url),
            mvno_url: simulator.or_it(&settings.mvno.base_url),
        };
        let launcher = Launcher::new(
            arbiters.iter().map(Arbiter::handle).collect(),
            Arc::new(store_pools(&settings, arbiters.len())?),
            Duration::from_millis(settings.actors.reply_timeout_ms),
            settings.actors.retry_after_s,
        );
        let actors = Arc::new(Actors::start(
            launcher,
            &settings,
            tokens.clone(),
            &endpoints,
            metrics.clone(),
        )?);
        let state = web::Data::new(AppState {
            actors: actors.clone(),
            tokens,
            trust_forwarded_for: settings.rate_limit.trust_forwarded_for,
            fault_injection: settings.admin.fault_injection,
            bench_endpoints: settings.admin.bench_endpoints,
            registration: http::RegistrationPolicy {
                self_registration: settings.auth.self_registration,
                allow_unknown_lines: settings.auth.allow_unknown_lines,
            },
            store_rules: settings.store.charge_rules(),
            order_limits: settings.store.order_limits(),
            popular_window_hours: settings.store.popular_window_hours,
            tz: settings.locale.tz(),
            metrics,
        });
        let (server, port) = http_server(&settings, state, simulator.kos_state.clone())?;
        tracing::info!(
            port,
            arbiters = arbiters.len(),
            workers = count_or_cores(settings.server.workers),
            "phonebill listening"
        );
        Ok(Self {
            port,
            server,
            actors,
            arbiters,
            kos_url: endpoints.kos_url,
            mvno_url: endpoints.mvno_url,
            simulator: simulator.handle,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The actors, for tools and tests that drive them directly.
    pub fn actors(&self) -> Arc<Actors> {
        self.actors.clone()
    }

    /// Base URL of KOS-Order in use (the built-in simulator's when none is configured).
    pub fn kos_url(&self) -> &str {
        &self.kos_url
    }

    /// Base URL of the MVNO AP server in use.
    pub fn mvno_url(&self) -> &str {
        &self.mvno_url
    }

    /// A handle that stops the HTTP server gracefully (and with it the application).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGINT/SIGTERM stop it gracefully), then stops the
    /// actors without restarting them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let signals = actix_web::rt::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: finishing in-flight requests");
            handle.stop(true).await;
        });
        let result = self.server.await;
        signals.abort();
        // In-flight requests are done: write what the history writer holds, then stop.
        self.actors.flush().await;
        self.actors.begin_shutdown();
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        if let Some(simulator) = &self.simulator {
            simulator.stop(true).await;
        }
        tracing::info!("phonebill stopped");
        result
    }
}

/// A configured count, or one per core for 0.
fn count_or_cores(n: usize) -> usize {
    match n {
        0 => cores(),
        n => n,
    }
}

/// One set of pools per arbiter: connections are driven by the loop that uses them.
fn store_pools(settings: &Settings, arbiters: usize) -> anyhow::Result<Vec<Stores>> {
    (0..arbiters)
        .map(|_| {
            Ok(Stores {
                db: db::pool(&settings.database),
                redis: RedisStore::new(&settings.redis)?,
            })
        })
        .collect()
}

/// The keys tokens are signed with: generated from the install's shared master secret in
/// PostgreSQL when `[jwt] secret` is empty, else the configured one.
async fn token_keys(settings: &Settings) -> anyhow::Result<TokenKeys> {
    let jwt = &settings.jwt;
    let source = if jwt.secret.expose_secret().is_empty() {
        let url = settings.database.url.expose_secret().to_string();
        let master = off_runtime(move || db::jwt_master(&url))
            .await
            .map_err(|e| anyhow::anyhow!("jwt.secret is empty, and the shared one: {e}"))?;
        KeySource::Rotating {
            master,
            period_s: jwt.rotate_every_s,
        }
    } else {
        KeySource::Configured {
            kid: jwt.key_id.clone(),
            secret: jwt.secret.expose_secret().as_bytes().to_vec(),
        }
    };
    Ok(TokenKeys::new(
        source,
        &jwt.issuer,
        &jwt.audience,
        jwt.access_ttl_s,
        jwt.refresh_ttl_s,
        jwt.leeway_s,
    ))
}

/// The built-in KOS/MVNO simulator, when no real KOS or MVNO is configured.
struct Simulator {
    url: String,
    handle: Option<actix_web::dev::ServerHandle>,
    /// Its state, when it stands in for KOS: phonebill's port answers `mock-datas` too.
    kos_state: Option<web::Data<crate::simulator::SimState>>,
}

impl Simulator {
    fn start_if_needed(settings: &Settings) -> anyhow::Result<Self> {
        if !settings.kos.base_url.is_empty() && !settings.mvno.base_url.is_empty() {
            return Ok(Self {
                url: String::new(),
                handle: None,
                kos_state: None,
            });
        }
        let running = crate::simulator::launch(
            "127.0.0.1",
            settings.kos.simulator_port,
            1,
            &settings.cors.allowed_origins,
        )
        .map_err(|e| anyhow::anyhow!("kos.simulator_port: cannot start the simulator: {e}"))?;
        let port = running.port;
        tracing::info!(port, "built-in KOS/MVNO simulator listening");
        let handle = Some(running.server.handle());
        let kos_state = settings
            .kos
            .base_url
            .is_empty()
            .then(|| running.state.clone());
        actix_web::rt::spawn(running.server);
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            handle,
            kos_state,
        })
    }

    /// `configured`, or the simulator's URL when it is empty.
    fn or_it(&self, configured: &str) -> String {
        if configured.is_empty() {
            self.url.clone()
        } else {
            configured.to_string()
        }
    }
}

/// The HTTP server over `state`, listening; and its port.
fn http_server(
    settings: &Settings,
    state: web::Data<AppState>,
    simulated_kos: Option<web::Data<crate::simulator::SimState>>,
) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
        .map_err(|e| anyhow::anyhow!("server.host/server.port: cannot listen: {e}"))?;
    let port = listener.local_addr()?.port();
    let max_body = settings.server.max_body_bytes;
    let body_timeout = Duration::from_millis(settings.server.body_timeout_ms);
    let cors_settings = settings.cors.clone();
    let server = HttpServer::new(move || {
        // This closure runs once on each worker's thread: its fronts start there.
        let fronts = web::Data::new(http::WorkerFronts::start_here(&state.actors));
        let mut app = App::new().app_data(state.clone()).app_data(fronts);
        if let Some(kos) = &simulated_kos {
            app = app.app_data(kos.clone());
        }
        app.app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(max_body))
        .app_data(middleware::BodyTimeout(body_timeout))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .configure(http::routes)
        .default_service(web::to(error::not_found))
        .wrap(from_fn(middleware::body_deadline))
        .wrap(http::cors(&cors_settings))
        .wrap(from_fn(middleware::request_context))
    })
    .workers(count_or_cores(settings.server.workers))
    .max_connections(settings.server.max_connections_per_worker)
    .shutdown_timeout(settings.server.shutdown_timeout_s)
    // Signals are handled in `run_until_stopped`, which shuts down in order; actix's own
    // handling would stop the whole actor system at once.
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((server, port))
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Runs migrations on a thread of their own (diesel's harness blocks) without blocking the
/// caller's event loop.
async fn migrate_off_runtime(url: String) -> anyhow::Result<()> {
    off_runtime(move || db::migrate(&url)).await
}

/// Runs blocking start-up work on a thread of its own.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.await
        .map_err(|_| anyhow::anyhow!("start-up thread ended without answer"))?
}
