//! Product change latency over HTTP (p50/p99): the real application with its built-in
//! simulator; load users change their own lines back and forth, several at a time.
//!   cargo run --release --example change_latency [USERS] [CHANGES_PER_USER]

use std::time::{Duration, Instant};

use phonebill::settings::Settings;
use phonebill::startup::Application;
use serde_json::{json, Value};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let users: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    let per_user: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(25);
    let mut settings = Settings::load(std::path::Path::new("config.toml"))?;
    settings.server.port = 0;
    settings.log.level = "error".into();
    settings.rate_limit.login_per_ip_per_minute = 0;
    settings.redis.key_prefix = format!("phonebill-bench:{}:", uuid::Uuid::new_v4().simple());
    settings.actors.history.spool_dir = std::env::temp_dir().join("phonebill-bench-spool");
    if std::env::var("PHONEBILL__DATABASE__URL").is_err() {
        settings.database.url = "postgres://postgres@127.0.0.1:5432/phonebill_bench"
            .to_string()
            .into();
    }
    let app = Application::build(settings.clone()).await?;
    let base = format!("http://127.0.0.1:{}/api/v1", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    phonebill::seed::run(&settings, users).await?;
    let client = reqwest::Client::new();

    let mut workers = Vec::new();
    for n in 1..=users {
        let (client, base) = (client.clone(), base.clone());
        workers.push(actix_web::rt::spawn(async move {
            let (user, line) = phonebill::seed::load_user(n);
            let login: Value = client
                .post(format!("{base}/auth/login"))
                .json(&json!({ "userId": user, "password": "Passw0rd!" }))
                .send().await?.json().await?;
            let token = login["access_token"].as_str().unwrap_or_default().to_string();
            let customer: Value = client
                .get(format!("{base}/products/customer"))
                .bearer_auth(&token)
                .send().await?.json().await?;
            let mut current = customer["data"]["currentProduct"]["productCode"].as_str().unwrap_or_default().to_string();
            let other = if current == "LTE-BASIC-001" { "LTE-PREMIUM-001" } else { "LTE-BASIC-001" }.to_string();
            let mut target = other.clone();
            let mut samples = Vec::new();
            let mut failures = 0;
            for _ in 0..per_user {
                let started = Instant::now();
                let res = client
                    .post(format!("{base}/products/change"))
                    .bearer_auth(&token)
                    .json(&json!({ "lineNumber": line, "currentProductCode": current, "targetProductCode": target }))
                    .send().await?;
                let status = res.status();
                let _: Value = res.json().await?;
                samples.push(started.elapsed());
                if status.is_success() {
                    std::mem::swap(&mut current, &mut target);
                } else {
                    failures += 1;
                }
            }
            Ok::<_, anyhow::Error>((samples, failures))
        }));
    }
    let mut all = Vec::new();
    let mut failures = 0;
    let started = Instant::now();
    for w in workers {
        let (samples, failed) = w.await??;
        all.extend(samples);
        failures += failed;
    }
    let wall = started.elapsed();
    all.sort();
    println!(
        "{} changes by {users} users ({per_user} each, {failures} not 2xx) in {:.1} s: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        all.len(), wall.as_secs_f64(), pct(&all, 0.5), pct(&all, 0.9), pct(&all, 0.99), pct(&all, 1.0)
    );
    Ok(())
}
