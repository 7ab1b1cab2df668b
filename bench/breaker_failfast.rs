//! Fail-fast latency with the read breaker open, against the inquiry time-out, in one run.
//! Starts the real application (built-in simulator, PostgreSQL and Redis as configured),
//! makes KOS hang, lets the breaker open, then times calls through the KOS gateway actor.
//!   cargo run --release --example breaker_failfast

use std::time::{Duration, Instant};

use phonebill::actors::telecom::kos_gateway::{InquireBill, KosError};
use phonebill::domain::identity::LineNumber;
use phonebill::settings::Settings;
use phonebill::startup::Application;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = Settings::load(std::path::Path::new("config.toml"))?;
    settings.server.port = 0;
    settings.log.level = "error".into();
    settings.redis.key_prefix = "phonebill-bench:".into();
    if std::env::var("PHONEBILL__DATABASE__URL").is_err() {
        settings.database.url = "postgres://postgres@127.0.0.1:5432/phonebill_bench"
            .to_string()
            .into();
    }
    let app = Application::build(settings.clone()).await?;
    let (actors, kos_url) = (app.actors(), app.kos_url().to_string());
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    client
        .put(format!("{kos_url}/api/v1/kos/admin/faults"))
        .json(&serde_json::json!({ "mode": "hang", "endpoint": "bill-inquiry" }))
        .send()
        .await?;
    let month = phonebill::simulator::data::available_months()[0].clone();
    let line = LineNumber::parse("01012345001").map_err(anyhow::Error::msg)?;
    let call = || {
        actors.telecom.kos.ask_shard(
            0,
            InquireBill {
                line: line.clone(),
                month: month.clone(),
                request_id: "bench".into(),
            },
        )
    };
    // Time-outs until the breaker opens (minimum_calls of them, concurrently).
    let started = Instant::now();
    let opening =
        futures_util::future::join_all((0..settings.kos.breaker.minimum_calls).map(|_| call()))
            .await;
    let timeout_wait = started.elapsed();
    let timed_out = opening
        .iter()
        .filter(|r| matches!(r, Ok(Err(KosError::Unavailable(_)))))
        .count();

    let mut samples = Vec::with_capacity(20_000);
    let mut refused = 0;
    for _ in 0..20_000 {
        let t = Instant::now();
        if let Ok(Err(KosError::Rejected { .. })) = call().await {
            refused += 1;
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    println!("inquiry time-out: {} ms; {timed_out} calls timed out together in {:.0} ms, opening the breaker",
        settings.kos.inquiry_timeout_ms, timeout_wait.as_secs_f64() * 1000.0);
    println!(
        "breaker open: {refused}/20000 calls refused; p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6
    );
    println!(
        "p99 fail-fast / time-out = {:.6}",
        percentile(&samples, 0.99).as_secs_f64()
            / (settings.kos.inquiry_timeout_ms as f64 / 1000.0)
    );
    Ok(())
}
