//! History writer throughput: batched inserts against row-at-a-time, and rows per second
//! through the history-writer actor itself, in one run.
//!   cargo run --release --example history_rate [ROWS]
//! Uses the database of PHONEBILL__DATABASE__URL (default phonebill_bench), emptied first.

use std::time::Instant;

use chrono::Utc;
use diesel_async::RunQueryDsl as _;
use phonebill::actors::telecom::bill_history::{Flush, Snapshot};
use phonebill::domain::identity::LineNumber;
use phonebill::domain::telecom::bill::BillSnapshot;
use phonebill::domain::telecom::kos::KosBill;
use phonebill::infra::telecom::bill_history::{write_batch, write_one, HistoryRecord, HistoryRow};
use phonebill::infra::{db, StoreError};
use phonebill::settings::Settings;
use phonebill::startup::Application;

/// A bill as KOS gives it (~700 bytes): 50 of them, told apart by their total.
const BILL: &str = r#"{"lineNumber":"01050000001","billingMonth":"202611","customerId":"LOAD00001","customerName":"부하테스트","operatorCode":"KT","lineStatus":"ACTIVE","productCode":"5G-STANDARD-001","productName":"5G 스탠다드","monthlyFee":69000,"usageFee":3500,"discountAmount":10000,"totalFee":62500,"dataUsage":"12.5GB","voiceUsage":"120분","smsUsage":"15건","billStatus":"CONFIRMED","dueDate":"2026-12-25","discountInfo":[{"name":"선택약정 할인","amount":10000}],"estimatedCancellationFee":0,"deviceInstallment":0,"paymentInfo":{"billingDate":"2026-12-25","paymentStatus":"PAID","paymentMethod":"자동이체"}}"#;

fn snapshots() -> Vec<BillSnapshot> {
    (0..50)
        .map(|n| {
            let mut bill: KosBill = match serde_json::from_str(BILL) {
                Ok(bill) => bill,
                Err(e) => unreachable!("BILL above is a bill: {e}"),
            };
            bill.total_fee += n;
            let line = match LineNumber::parse(&bill.line_number) {
                Ok(line) => line,
                Err(e) => unreachable!("BILL above names a line: {e}"),
            };
            match BillSnapshot::of(&bill, &line) {
                Ok(s) => s,
                Err(e) => unreachable!("a bill serializes: {e}"),
            }
        })
        .collect()
}

/// An answer of the size phonebill gives (~800 bytes), kept in memory with the record.
const ANSWER: &str = r#"{"requestId":"5f0c2a2e-8f5e-4a43-9f55-2d6f0c7b1e11","procStatus":"COMPLETED","resultCode":"0000","resultMessage":"요금 조회가 완료되었습니다","billInfo":{"lineNumber":"010-5000-0001","billingMonth":"202611","productCode":"5G-STANDARD-001","productName":"5G 스탠다드","monthlyFee":69000,"usageFee":3500,"discountAmount":10000,"totalFee":62500,"dataUsage":"12.5GB","voiceUsage":"120분","smsUsage":"15건","billStatus":"CONFIRMED","dueDate":"2026-12-25","discountInfo":[{"name":"선택약정 할인","amount":10000}],"estimatedCancellationFee":0,"deviceInstallment":0,"paymentInfo":{"method":"자동이체","bank":"국민은행","account":"***-****-1234"}},"customerInfo":{"customerName":"부하테스트","customerId":"LOAD00001","operatorCode":"KT","lineStatus":"ACTIVE"}}"#;

fn raw(json: &str) -> std::sync::Arc<serde_json::value::RawValue> {
    match serde_json::value::RawValue::from_string(json.to_string()) {
        Ok(raw) => raw.into(),
        Err(e) => unreachable!("the constants above are JSON: {e}"),
    }
}

fn record(n: usize, tag: &str, bills: &[BillSnapshot]) -> HistoryRecord {
    let now = Utc::now();
    HistoryRecord {
        row: HistoryRow {
            request_id: format!("{tag}-{n}"),
            user_id: format!("load{:05}", n % 1000 + 1),
            line_number: format!("010{:08}", 50_000_001 + n % 1000),
            inquiry_month: "202611".into(),
            request_time: now,
            process_time: now,
            status: phonebill::domain::telecom::bill::InquiryStatus::Completed,
            result_code: "0000".into(),
            result_message: "요금 조회가 완료되었습니다".into(),
            kos_response_ms: Some(3),
            cache_hit: !n.is_multiple_of(10),
            result: Some(raw(ANSWER)),
            snapshot: Some(bills[n % bills.len()].clone()),
        },
        notify: None,
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut settings = Settings::load(std::path::Path::new("config.toml"))?;
    settings.server.port = 0;
    settings.log.level = "error".into();
    settings.redis.key_prefix = "phonebill-bench:".into();
    settings.actors.history.spool_dir = std::env::temp_dir().join("phonebill-bench-spool");
    if std::env::var("PHONEBILL__DATABASE__URL").is_err() {
        settings.database.url = "postgres://postgres@127.0.0.1:5432/phonebill_bench"
            .to_string()
            .into();
    }
    let app = Application::build(settings.clone()).await?;
    let actors = app.actors();
    let pool = db::pool(&settings.database);
    let mut conn = pool.get().await.map_err(StoreError::from)?;
    diesel::sql_query("TRUNCATE bill_inquiry_history, bill_snapshots, mvno_outbox")
        .execute(&mut conn)
        .await?;
    let batch = settings.actors.history.batch_size;
    let bills = snapshots();

    let single_rows = rows / 10;
    let records: Vec<HistoryRecord> = (0..single_rows).map(|n| record(n, "one", &bills)).collect();
    let started = Instant::now();
    for r in &records {
        write_one(&mut conn, r).await?;
    }
    let single = single_rows as f64 / started.elapsed().as_secs_f64();

    let records: Vec<HistoryRecord> = (0..rows).map(|n| record(n, "batch", &bills)).collect();
    let started = Instant::now();
    for chunk in records.chunks(batch) {
        write_batch(&mut conn, chunk).await?;
    }
    let batched = rows as f64 / started.elapsed().as_secs_f64();

    // End to end through the actor: hand over every record, then wait until all are written.
    let started = Instant::now();
    for n in 0..rows {
        // A full writer refuses; a client would get 503 and retry, so does this loop.
        while actors
            .telecom
            .inlet
            .hand(record(n, "actor", &bills))
            .is_err()
        {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let handed = started.elapsed();
    actors.telecom.history.ask_shard(0, Flush).await?;
    let total = started.elapsed();
    let snap = actors.telecom.history.ask_shard(0, Snapshot).await?;
    println!("row-at-a-time ({single_rows} rows, one history row each, its bill stored once): {single:.0} rows/s");
    println!("batched ({rows} rows in batches of {batch}): {batched:.0} rows/s");
    println!("batched / row-at-a-time = {:.1}x", batched / single);
    println!(
        "through the history-writer actor: {rows} records handed over in {:.0} ms ({:.0}/s), all written after {:.0} ms: {:.0} rows/s ({} write rounds, {} written, {} spooled)",
        handed.as_secs_f64() * 1000.0,
        rows as f64 / handed.as_secs_f64(),
        total.as_secs_f64() * 1000.0,
        rows as f64 / total.as_secs_f64(),
        snap.batches, snap.written, snap.spooled
    );
    Ok(())
}
