//! The `phonebill` command line: parse, load settings, hand over.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use phonebill::infra::db;
use phonebill::settings::Settings;
use phonebill::startup::Application;
use phonebill::{seed, telemetry};

// Requests allocate and free many small, short-lived buffers across threads; glibc's
// malloc spent about a quarter of a cache-hit inquiry's CPU on them (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "phonebill",
    version,
    about = "MVNO customer self-service backend"
)]
struct Cli {
    /// Configuration file; `PHONEBILL__SECTION__KEY` variables override it.
    #[arg(long, env = "PHONEBILL_CONFIG", default_value = "config.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (applies migrations first unless told not to).
    Serve {
        /// Skip migrations (another instance or a deploy step ran them).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Create the demo users (idempotent).
    SeedDemo {
        /// Also create N load-test users load00001… on lines 010-5000-0001….
        #[arg(long, default_value_t = 0)]
        load_users: u32,
    },
    /// Check the membership store's invariants in PostgreSQL (balances against the ledger,
    /// stock against orders, coupons, nothing left pending); exits 1 listing every violation.
    StoreAudit {
        /// Seconds past its deadline an order may still be PENDING (the recovery's round).
        #[arg(long, default_value_t = 5.0)]
        margin_s: f64,
    },
    /// Unlock an account locked after failed logins (the way out when no ADMIN can log in,
    /// e.g. `admin` itself locked by someone guessing).
    Unlock {
        /// The user id.
        user_id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(&cli.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("phonebill: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let outcome = match cli.command {
        Command::Serve { no_migrate } => {
            let migrated = if no_migrate || !settings.database.migrate_on_start {
                Ok(())
            } else {
                // Before the actor system starts: the migration harness blocks.
                db::migrate(settings.database.url.expose_secret())
            };
            settings.database.migrate_on_start = false;
            migrated.and_then(|()| {
                actix_web::rt::System::new().block_on(async move {
                    Application::build(settings)
                        .await?
                        .run_until_stopped()
                        .await?;
                    Ok(())
                })
            })
        }
        Command::Migrate => db::migrate(settings.database.url.expose_secret()),
        Command::SeedDemo { load_users } => seed_demo(&settings, load_users),
        Command::StoreAudit { margin_s } => store_audit(&settings, margin_s),
        Command::Unlock { user_id } => unlock(&settings, &user_id),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("phonebill: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seed_demo(settings: &Settings, load_users: u32) -> anyhow::Result<()> {
    db::migrate(settings.database.url.expose_secret())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(seed::run(settings, load_users))?;
    println!(
        "seed-demo: {} demo users created, {} load users created; store: {} products, {} coupon campaigns created, user01's points {}",
        report.demo_created,
        report.load_created,
        report.store.products_created,
        report.store.campaigns_created,
        if report.store.points_given { "given" } else { "already there" }
    );
    Ok(())
}

fn store_audit(settings: &Settings, margin_s: f64) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = settings.database.url.expose_secret().to_string();
    let (checked, violations) = runtime.block_on(async move {
        let mut conn = diesel_async::AsyncPgConnection::establish(&url).await?;
        phonebill::infra::store::audit::run(&mut conn, margin_s)
            .await
            .map_err(anyhow::Error::from)
    })?;
    for v in &violations {
        println!("VIOLATION {}: {}", v.invariant, v.detail);
    }
    if violations.is_empty() {
        println!("store-audit: {checked} invariants checked, none violated");
        Ok(())
    } else {
        anyhow::bail!(
            "store-audit: {} violations of {checked} invariants checked",
            violations.len()
        )
    }
}

fn unlock(settings: &Settings, user_id: &str) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection as _;
    let user = phonebill::domain::identity::UserId::parse(user_id)
        .map_err(|e| anyhow::anyhow!("{user_id:?}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = settings.database.url.expose_secret().to_string();
    let unlocked = runtime.block_on(async move {
        let mut conn = diesel_async::AsyncPgConnection::establish(&url).await?;
        phonebill::infra::identity::users::unlock(&mut conn, user.as_str())
            .await
            .map_err(anyhow::Error::from)
    })?;
    if !unlocked {
        anyhow::bail!("no user {user_id:?}");
    }
    tracing::warn!(user = %user_id, "account unlocked from the command line");
    println!("unlock: {user_id} unlocked");
    Ok(())
}
