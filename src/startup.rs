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

use crate::actors::bus::SessionBus;
use crate::actors::identity::account::AccountActor;
use crate::actors::identity::session::SessionActor;
use crate::actors::shard::ShardSet;
use crate::actors::telecom::cache::{CacheActor, CacheStats};
use crate::actors::telecom::history::HistoryWriter;
use crate::actors::telecom::kos_gateway::KosGateway;
use crate::actors::telecom::notifier::Notifier;
use crate::actors::telecom::product_change::{ChangeDeps, ProductChanger};
use crate::actors::telecom::reconciler::Reconciler;
use crate::actors::Actors;
use crate::domain::identity::lockout::LockoutPolicy;
use crate::domain::identity::token::{KeySource, TokenKeys};
use crate::http::{self, error, middleware, AppState};
use crate::infra::identity::password::PasswordHasher;
use crate::infra::redis::RedisStore;
use crate::infra::telecom::spool::Spool;
use crate::infra::{db, Stores};
use crate::settings::{cores, ActorKindSettings, Settings};

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

        let arbiter_count = match settings.actors.arbiters {
            0 => cores(),
            n => n,
        };
        let arbiters: Vec<Arbiter> = (0..arbiter_count).map(|_| Arbiter::new()).collect();
        let handles: Vec<_> = arbiters.iter().map(Arbiter::handle).collect();

        // One set of pools per arbiter: connections are driven by the loop that uses them.
        let stores: Arc<Vec<Stores>> = Arc::new(
            (0..arbiter_count)
                .map(|_| {
                    Ok(Stores {
                        db: db::pool(&settings.database),
                        redis: RedisStore::new(&settings.redis)?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        );

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
        let tokens = Arc::new(TokenKeys::new(
            source,
            &jwt.issuer,
            &jwt.audience,
            jwt.access_ttl_s,
            jwt.refresh_ttl_s,
            jwt.leeway_s,
        ));
        let hasher = Arc::new(PasswordHasher::new(&settings.auth)?);
        let metrics = Arc::new(crate::metrics::Metrics::new()?);
        let reply_timeout = Duration::from_millis(settings.actors.reply_timeout_ms);
        let retry_after = settings.actors.retry_after_s;

        // The built-in KOS/MVNO simulator, when no real one is configured.
        let mut simulator = None;
        // Its state, when it stands in for KOS: phonebill's port answers `mock-datas` too.
        let mut simulated_kos = None;
        let simulator_url = if settings.kos.base_url.is_empty() || settings.mvno.base_url.is_empty()
        {
            let running = crate::simulator::launch(
                "127.0.0.1",
                settings.kos.simulator_port,
                1,
                &settings.cors.allowed_origins,
            )
            .map_err(|e| anyhow::anyhow!("kos.simulator_port: cannot start the simulator: {e}"))?;
            let port = running.port;
            tracing::info!(port, "built-in KOS/MVNO simulator listening");
            simulator = Some(running.server.handle());
            if settings.kos.base_url.is_empty() {
                simulated_kos = Some(running.state.clone());
            }
            actix_web::rt::spawn(running.server);
            format!("http://127.0.0.1:{port}")
        } else {
            String::new()
        };
        let or_simulator = |url: &str| {
            if url.is_empty() {
                simulator_url.clone()
            } else {
                url.to_string()
            }
        };
        let kos_url = or_simulator(&settings.kos.base_url);
        let mvno_url = or_simulator(&settings.mvno.base_url);

        let session_ttl = Duration::from_secs(settings.cache.session_ttl_s);
        let session_lifetime = Duration::from_secs(settings.auth.session_lifetime_s);
        let bus_live = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sessions = Arc::new(ShardSet::start(
            "session",
            settings.actors.session,
            &handles,
            reply_timeout,
            retry_after,
            {
                let stores = stores.clone();
                let tokens = tokens.clone();
                let live = bus_live.clone();
                move |cx| {
                    let redis = stores[cx.arbiter % stores.len()].redis.clone();
                    SessionActor::new(
                        redis,
                        tokens.clone(),
                        session_ttl,
                        session_lifetime,
                        live.clone(),
                        cx.lifeline,
                    )
                }
            },
        ));
        let policy = LockoutPolicy::new(
            settings.auth.max_failed_logins,
            settings.auth.lockout_minutes,
        );
        let accounts = ShardSet::start(
            "account",
            settings.actors.account,
            &handles,
            reply_timeout,
            retry_after,
            {
                let stores = stores.clone();
                let hasher = hasher.clone();
                let limits = settings.rate_limit.clone();
                move |cx| {
                    let s = stores[cx.arbiter % stores.len()].clone();
                    AccountActor::new(s, hasher.clone(), policy, limits.clone(), cx.lifeline)
                }
            },
        );

        let kos = Arc::new(ShardSet::start(
            "kos",
            settings.actors.kos.as_kind(),
            &handles,
            reply_timeout,
            retry_after,
            {
                let (kos_settings, url, m) =
                    (settings.kos.clone(), kos_url.clone(), metrics.clone());
                move |cx| KosGateway::new(&kos_settings, url.clone(), Some(m.clone()), cx.lifeline)
            },
        ));
        let cache_stats = Arc::new(CacheStats::default());
        let cache = Arc::new(ShardSet::start(
            "cache",
            settings.actors.cache,
            &handles,
            reply_timeout,
            retry_after,
            {
                let (stores, kos, stats, cache_settings) = (
                    stores.clone(),
                    kos.clone(),
                    cache_stats.clone(),
                    settings.cache.clone(),
                );
                move |cx| {
                    let redis = stores[cx.arbiter % stores.len()].redis.clone();
                    CacheActor::new(
                        cache_settings.clone(),
                        redis,
                        kos.clone(),
                        stats.clone(),
                        cx.lifeline,
                    )
                }
            },
        ));
        // The notifier runs on the last arbiter, away from the gateway on the first.
        let notifier_handles = [handles[handles.len() - 1].clone()];
        let notifier = Arc::new(ShardSet::start(
            "notifier",
            settings.actors.notifier.as_kind(),
            &notifier_handles,
            reply_timeout,
            retry_after,
            {
                let (mvno, url) = (settings.mvno.clone(), mvno_url.clone());
                let db = stores[stores.len() - 1].db.clone();
                move |cx| Notifier::new(db.clone(), url.clone(), mvno.clone(), cx.lifeline)
            },
        ));
        // This instance's slot of the spool, held until it exits (whatever happens to the
        // writer actor).
        let spool = Spool::claim(&settings.actors.history.spool_dir).map_err(|e| {
            anyhow::anyhow!("actors.history.spool_dir: cannot claim a spool slot: {e}")
        })?;
        // The history writer shares the notifier's arbiter: it wakes it after each write.
        let history = ShardSet::start(
            "history",
            ActorKindSettings {
                mailbox: settings.actors.history.mailbox,
                shards: 1,
            },
            &notifier_handles,
            reply_timeout,
            retry_after,
            {
                let (db, hs, notifier) = (
                    stores[stores.len() - 1].db.clone(),
                    settings.actors.history.clone(),
                    notifier.clone(),
                );
                move |cx| {
                    HistoryWriter::new(
                        db.clone(),
                        spool.clone(),
                        hs.clone(),
                        notifier.clone(),
                        cx.lifeline,
                    )
                }
            },
        );

        // A change may take two KOS reads, the KOS change and a few database round trips:
        // its actor is given at least that long to answer.
        let change_worst_ms = 2 * settings.kos.inquiry_timeout_ms
            + settings.kos.change_timeout_ms
            + 4 * settings.database.acquire_timeout_ms
            + 1000;
        let products = ShardSet::start(
            "products",
            settings.actors.products,
            &handles,
            reply_timeout.max(Duration::from_millis(change_worst_ms)),
            retry_after,
            {
                let deps = ChangeDeps {
                    db: stores[0].db.clone(),
                    kos: kos.clone(),
                    cache: cache.clone(),
                    idempotency_ttl: chrono::Duration::seconds(
                        settings.products.idempotency_ttl_s as i64,
                    ),
                    first_check_after: chrono::Duration::milliseconds(
                        (settings.kos.change_timeout_ms + settings.products.first_check_delay_ms)
                            as i64,
                    ),
                };
                let stores = stores.clone();
                move |cx| {
                    let mut deps = deps.clone();
                    deps.db = stores[cx.arbiter % stores.len()].db.clone();
                    ProductChanger::new(deps, cx.lifeline)
                }
            },
        );
        let reconciler = ShardSet::start(
            "reconciler",
            settings.actors.reconciler.as_kind(),
            &notifier_handles,
            reply_timeout,
            retry_after,
            {
                let (db, kos, cache, ps) = (
                    stores[stores.len() - 1].db.clone(),
                    kos.clone(),
                    cache.clone(),
                    settings.products.clone(),
                );
                move |cx| {
                    Reconciler::new(
                        db.clone(),
                        kos.clone(),
                        cache.clone(),
                        ps.clone(),
                        cx.lifeline,
                    )
                }
            },
        );

        let bus = SessionBus {
            url: settings.redis.url.clone(),
            redis: stores[0].redis.clone(),
            sessions: sessions.clone(),
            cache: cache.clone(),
            live: bus_live,
        };
        handles[0].spawn(bus.run());

        let actors = Arc::new(Actors {
            sessions,
            accounts,
            kos,
            cache,
            cache_stats,
            history,
            notifier,
            products,
            reconciler,
            hasher,
        });
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
            tz: settings.locale.tz(),
            metrics,
        });

        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .map_err(|e| anyhow::anyhow!("server.host/server.port: cannot listen: {e}"))?;
        let port = listener.local_addr()?.port();
        let max_body = settings.server.max_body_bytes;
        let body_timeout = Duration::from_millis(settings.server.body_timeout_ms);
        let cors_settings = settings.cors.clone();
        let workers = match settings.server.workers {
            0 => cores(),
            n => n,
        };
        let server = HttpServer::new(move || {
            let mut app = App::new().app_data(state.clone());
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
        .workers(workers)
        .max_connections(settings.server.max_connections_per_worker)
        .shutdown_timeout(settings.server.shutdown_timeout_s)
        // Signals are handled in `run_until_stopped`, which shuts down in order; actix's
        // own handling would stop the whole actor system at once.
        .disable_signals()
        .listen(listener)?
        .run();

        tracing::info!(
            port,
            arbiters = arbiter_count,
            workers,
            "phonebill listening"
        );
        Ok(Self {
            port,
            server,
            actors,
            arbiters,
            kos_url,
            mvno_url,
            simulator,
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
