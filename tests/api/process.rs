//! The real `phonebill` binary as a child process, signalled under load: SIGTERM drains and
//! exits 0 losing nothing answered; SIGKILL loses no acknowledged product change, and the
//! history lost is only what was answered in the last moments before the kill. The child's
//! log (debug, JSON) is scanned for tokens, passwords and full line numbers.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::{Client, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{
    mvno_received, poll_until, spawn_app_with, spool_dir, spool_files, standalone_simulator,
    TestApp, PASSWORD,
};

pub struct Proc {
    pub child: Child,
    pub address: String,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `phonebill serve` on `owner`'s database and Redis prefix, talking to `sim`.
async fn start(owner: &TestApp, sim: &str, spool: &Path, log: &Path) -> Proc {
    start_with(owner, sim, spool, log, &[]).await
}

/// As `start`, with `extra` environment on top (later settings win).
pub async fn start_with(
    owner: &TestApp,
    sim: &str,
    spool: &Path,
    log: &Path,
    extra: &[(&str, String)],
) -> Proc {
    let port = free_port();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_phonebill"))
        .arg("serve")
        .env(
            "PHONEBILL_CONFIG",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"),
        )
        .env(
            "PHONEBILL__DATABASE__URL",
            owner.settings.database.url.expose_secret(),
        )
        .env("PHONEBILL__DATABASE__POOL_MAX_SIZE", "4")
        .env("PHONEBILL__ACTORS__HISTORY__WRITE_CONNECTIONS", "2")
        .env(
            "PHONEBILL__REDIS__URL",
            owner.settings.redis.url.expose_secret(),
        )
        .env(
            "PHONEBILL__REDIS__KEY_PREFIX",
            &owner.settings.redis.key_prefix,
        )
        .env("PHONEBILL__SERVER__PORT", port.to_string())
        .env("PHONEBILL__SERVER__WORKERS", "1")
        .env("PHONEBILL__SERVER__SHUTDOWN_TIMEOUT_S", "10")
        .env("PHONEBILL__ACTORS__ARBITERS", "2")
        .env("PHONEBILL__KOS__BASE_URL", sim)
        .env("PHONEBILL__MVNO__BASE_URL", sim)
        .env("PHONEBILL__ACTORS__HISTORY__SPOOL_DIR", spool)
        .env("PHONEBILL__RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE", "0")
        .env("PHONEBILL__LOG__LEVEL", "debug")
        .env("PHONEBILL__LOG__FORMAT", "json")
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("RUST_LOG")
        .stdout(Stdio::from(out.try_clone().expect("log file")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("phonebill starts");
    let p = Proc {
        child,
        address: format!("http://127.0.0.1:{port}"),
        log: log.to_path_buf(),
    };
    let client = Client::new();
    for _ in 0..300 {
        if let Ok(res) = client
            .get(format!("{}/health/ready", p.address))
            .send()
            .await
        {
            if res.status() == StatusCode::OK {
                return p;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("phonebill did not become ready; see {}", log.display());
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes a test's spool directory and log file when the test ends, however it ends.
pub struct Leftovers(pub PathBuf, pub PathBuf);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.1);
    }
}

fn signal(p: &Proc, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &p.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

async fn wait_exit(p: &mut Proc, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = p.child.try_wait().expect("child status") {
            return status;
        }
        assert!(
            Instant::now() < until,
            "phonebill did not exit within {within:?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn login(client: &Client, address: &str, user: &str) -> (String, String) {
    let res = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({ "userId": user, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

#[derive(Clone, Debug)]
struct Acked {
    request_id: String,
    at: Instant,
    status: StatusCode,
}

/// The status and JSON body of an answer (never a 500); `None` once the service has
/// stopped answering.
async fn answered(sent: reqwest::Result<reqwest::Response>) -> Option<(StatusCode, Value)> {
    let res = sent.ok()?;
    let status = res.status();
    assert!(
        status != StatusCode::INTERNAL_SERVER_ERROR,
        "a 500 under load"
    );
    Some((status, res.json::<Value>().await.ok()?))
}

/// Inquiries for the caller's own line until the service stops answering.
async fn inquiries(client: Client, address: String, token: String, log: Rc<RefCell<Vec<Acked>>>) {
    let mut others = 0;
    while others < 50 {
        let sent = client
            .post(format!("{address}/api/v1/bills/inquiry"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await;
        let Some((status, body)) = answered(sent).await else {
            return;
        };
        match body["data"]["requestId"].as_str() {
            Some(id) if status == StatusCode::OK => log.borrow_mut().push(Acked {
                request_id: id.to_string(),
                at: Instant::now(),
                status,
            }),
            _ => others += 1,
        }
    }
}

/// Product changes of the caller's own line, back and forth, until the service stops.
async fn changes(
    client: Client,
    address: String,
    token: String,
    line: String,
    log: Rc<RefCell<Vec<Acked>>>,
) {
    let mut current = String::new();
    loop {
        if current.is_empty() {
            let Ok(res) = client
                .get(format!("{address}/api/v1/products/customer"))
                .bearer_auth(&token)
                .send()
                .await
            else {
                return;
            };
            let Ok(body) = res.json::<Value>().await else {
                return;
            };
            let Some(code) = body["data"]["currentProduct"]["productCode"].as_str() else {
                return;
            };
            current = code.to_string();
        }
        let target = if current == "LTE-BASIC-001" {
            "LTE-PREMIUM-001"
        } else {
            "LTE-BASIC-001"
        };
        let sent = client
            .post(format!("{address}/api/v1/products/change"))
            .bearer_auth(&token)
            .json(&json!({ "lineNumber": line, "currentProductCode": current,
                           "targetProductCode": target }))
            .send()
            .await;
        let Some((status, body)) = answered(sent).await else {
            return;
        };
        if status == StatusCode::OK || status == StatusCode::ACCEPTED {
            log.borrow_mut().push(Acked {
                request_id: body["data"]["requestId"].as_str().unwrap().to_string(),
                at: Instant::now(),
                status,
            });
            current = target.to_string();
        } else {
            current.clear();
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    request_id: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn stored(owner: &TestApp, sql: &str, ids: &[String]) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(owner.settings.database.url.expose_secret())
        .await
        .unwrap();
    diesel::sql_query(sql)
        .bind::<Array<Text>, _>(ids)
        .load::<Id>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect()
}

async fn count(owner: &TestApp, sql: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(owner.settings.database.url.expose_secret())
        .await
        .unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

fn ids(log: &[Acked]) -> Vec<String> {
    log.iter().map(|a| a.request_id.clone()).collect()
}

async fn owner_and_sim() -> (TestApp, String) {
    let sim = standalone_simulator();
    let s2 = sim.clone();
    let owner = spawn_app_with(move |s| {
        s.kos.base_url = s2.clone();
        s.mvno.base_url = s2;
    })
    .await;
    owner.stop().await;
    (owner, sim)
}

#[actix_web::test]
async fn sigterm_under_load_finishes_in_flight_flushes_everything_and_exits_0() {
    let (owner, sim) = owner_and_sim().await;
    let spool = spool_dir(&format!("{}proc", owner.settings.redis.key_prefix));
    let log_path = spool.with_extension("log");
    let _leftovers = Leftovers(spool.clone(), log_path.clone());
    let mut p = start(&owner, &sim, &spool, &log_path).await;
    let client = Client::new();
    let acked = Rc::new(RefCell::new(Vec::new()));
    let mut tokens = Vec::new();
    let mut tasks = Vec::new();
    // Everyone logs in before the load starts (see the SIGKILL test).
    let mut accesses = Vec::new();
    for user in ["user01", "user02", "user03", "user04"] {
        let (access, refresh) = login(&client, &p.address, user).await;
        tokens.push(access.clone());
        tokens.push(refresh);
        accesses.push(access);
    }
    for access in accesses {
        tasks.push(actix_web::rt::spawn(inquiries(
            client.clone(),
            p.address.clone(),
            access,
            acked.clone(),
        )));
    }
    // A wrong password and a change, so those paths are in the log scanned below.
    let res = client
        .post(format!("{}/api/v1/auth/login", p.address))
        .json(&json!({ "userId": "user05", "password": "Wr0ng-secret!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Load for a fixed while, so SIGTERM meets requests in flight.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    signal(&p, "-TERM");
    let status = wait_exit(&mut p, Duration::from_secs(20)).await;
    for t in tasks {
        t.await.unwrap();
    }
    assert!(status.success(), "exit status {status:?}");

    let acked = acked.borrow().clone();
    assert!(acked.len() > 50, "only {} inquiries answered", acked.len());
    let ids = ids(&acked);
    let rows = stored(
        &owner,
        "SELECT request_id FROM bill_inquiry_history WHERE request_id = ANY($1)",
        &ids,
    )
    .await;
    let notes = stored(
        &owner,
        // A history row with its bill is its own MVNO notification (the bill-result stream).
        "SELECT request_id FROM bill_inquiry_history \
         WHERE request_id = ANY($1) AND snapshot_id IS NOT NULL",
        &ids,
    )
    .await;
    eprintln!(
        "SIGTERM under load: {} inquiries answered 200, {} history rows, {} notifications stored",
        ids.len(),
        rows.len(),
        notes.len()
    );
    assert_eq!(rows.len(), ids.len(), "history rows lost at SIGTERM");
    assert_eq!(notes.len(), ids.len(), "notifications lost at SIGTERM");
    assert!(
        spool_files(&spool, "history-").is_empty(),
        "PostgreSQL was up: nothing should be left in the spool"
    );

    // The log: present, and free of secrets and full line numbers.
    let log = std::fs::read_to_string(&p.log).unwrap();
    assert!(log.contains("request served"), "the log is empty?");
    for secret in tokens.iter().map(String::as_str).chain([
        PASSWORD,
        "Wr0ng-secret!",
        "01012345001",
        "010-1234-5001",
        "01012345002",
        "010-1234-5002",
    ]) {
        assert!(!log.contains(secret), "the log contains {secret}");
    }
}

#[actix_web::test]
async fn sigkill_under_load_loses_no_acknowledged_change_and_only_the_last_flush_of_history() {
    let (owner, sim) = owner_and_sim().await;
    let spool = spool_dir(&format!("{}kill", owner.settings.redis.key_prefix));
    let log_path = spool.with_extension("log");
    let _leftovers = Leftovers(spool.clone(), log_path.clone());
    let mut p = start(&owner, &sim, &spool, &log_path).await;
    let client = Client::new();
    let inquired = Rc::new(RefCell::new(Vec::new()));
    let changed = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    // Everyone logs in before the load starts: a login squeezed between other users'
    // streams on a loaded machine could miss its reply time-out (a 503 that is not what
    // this test is about).
    let mut tokens = Vec::new();
    for n in 1..=5 {
        tokens.push(login(&client, &p.address, &format!("user0{n}")).await.0);
    }
    for (n, access) in (1..=5).zip(tokens) {
        tasks.push(actix_web::rt::spawn(changes(
            client.clone(),
            p.address.clone(),
            access.clone(),
            format!("0101234500{n}"),
            changed.clone(),
        )));
        tasks.push(actix_web::rt::spawn(inquiries(
            client.clone(),
            p.address.clone(),
            access,
            inquired.clone(),
        )));
    }
    // Load for a fixed while, so SIGKILL meets requests and changes in flight.
    actix_web::rt::time::sleep(Duration::from_millis(2000)).await;
    let killed_at = Instant::now();
    p.child.kill().unwrap();
    wait_exit(&mut p, Duration::from_secs(5)).await;
    for t in tasks {
        t.await.unwrap();
    }
    drop(p);

    // Restarted on the same database and spool (a short lease, so the new process takes
    // over the bill-result stream the killed one held).
    let p = start_with(
        &owner,
        &sim,
        &spool,
        &log_path,
        &[("PHONEBILL__MVNO__LEASE_S", "2".into())],
    )
    .await;
    let changed = changed.borrow().clone();
    let inquired = inquired.borrow().clone();
    assert!(
        !changed.is_empty() && inquired.len() > 20,
        "too little load"
    );
    let change_ids = ids(&changed);
    let mut settled = 0;
    for _ in 0..100 {
        settled = count(
            &owner,
            "SELECT count(*) AS n FROM product_change_requests WHERE status <> 'PROCESSING'",
        )
        .await;
        let processing = count(
            &owner,
            "SELECT count(*) AS n FROM product_change_requests WHERE status = 'PROCESSING'",
        )
        .await;
        if processing == 0 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let found = stored(
        &owner,
        "SELECT request_id FROM product_change_requests WHERE request_id = ANY($1)",
        &change_ids,
    )
    .await;
    assert_eq!(found.len(), change_ids.len(), "acknowledged changes lost");
    let completed = stored(
        &owner,
        "SELECT request_id FROM product_change_requests \
         WHERE request_id = ANY($1) AND status = 'COMPLETED'",
        &ids(&changed
            .iter()
            .filter(|c| c.status == StatusCode::OK)
            .cloned()
            .collect::<Vec<_>>()),
    )
    .await;
    let answered_200 = changed
        .iter()
        .filter(|c| c.status == StatusCode::OK)
        .count();
    assert_eq!(
        completed.len(),
        answered_200,
        "a change answered 200 is not COMPLETED"
    );

    // History: what the writer had accepted is in PostgreSQL (written or replayed from the
    // spool), except records answered in the last moments before the kill, still in memory.
    // The loss window: the writer's flush interval (100 ms) plus one write round (which on a
    // busy CI machine may wait for a pooled connection).
    let window = Duration::from_millis(2000);
    let inquiry_ids = ids(&inquired);
    let lost_since_kill = || async {
        let rows = stored(
            &owner,
            "SELECT request_id FROM bill_inquiry_history WHERE request_id = ANY($1)",
            &inquiry_ids,
        )
        .await;
        let lost: Vec<&Acked> = inquired
            .iter()
            .filter(|a| !rows.contains(&a.request_id))
            .collect();
        let oldest_lost = lost
            .iter()
            .map(|a| killed_at.saturating_duration_since(a.at))
            .max()
            .unwrap_or_default();
        let replayed = spool_files(&spool, "history-").is_empty();
        (lost, oldest_lost, replayed)
    };
    // Until the restarted instance has replayed its spool and nothing older than the
    // window is missing (rows only ever arrive); asserted below either way.
    let (lost, oldest_lost, _) = poll_until(
        Duration::from_secs(20),
        lost_since_kill,
        |(_, oldest_lost, replayed)| *replayed && *oldest_lost < window,
    )
    .await;
    eprintln!(
        "SIGKILL under load: {} changes acknowledged, all stored ({settled} settled); \
         {} inquiries answered, {} history rows lost, answered at most {oldest_lost:?} before the kill",
        changed.len(),
        inquired.len(),
        lost.len()
    );
    assert!(
        oldest_lost < window,
        "a history record answered {oldest_lost:?} before the kill was lost"
    );
    // Every answered inquiry PostgreSQL holds is delivered to the MVNO AP at least once,
    // the killed process's batches in flight included.
    let answered = stored(
        &owner,
        "SELECT request_id FROM bill_inquiry_history \
         WHERE snapshot_id IS NOT NULL AND NOT (request_id = ANY($1))",
        &[],
    )
    .await;
    assert!(!answered.is_empty());
    let undelivered = || async {
        let got: std::collections::HashSet<String> = mvno_received(&client, &sim)
            .await
            .iter()
            .filter_map(|i| i["payload"]["eventId"].as_str().map(str::to_string))
            .collect();
        answered
            .iter()
            .filter(|id| !got.contains(*id))
            .cloned()
            .collect::<Vec<_>>()
    };
    let missing = poll_until(Duration::from_secs(30), undelivered, |m| m.is_empty()).await;
    assert!(
        missing.is_empty(),
        "{} of {} stored inquiries never reached the MVNO AP",
        missing.len(),
        answered.len()
    );
    let res = client
        .get(format!("{}/health/ready", p.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
