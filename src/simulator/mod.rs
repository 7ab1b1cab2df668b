//! The KOS-Order and MVNO AP simulator (`kos-mock`; started in-process by `phonebill serve`
//! when `[kos] base_url` is empty). SPEC section 5 is its contract.
//!
//! This is a stand-in for external systems, not part of phonebill proper: its small amount
//! of mutable state (changed lines, idempotency records, received notifications) sits behind
//! short-held locks; faults are swapped whole and stats are atomics, so the hot read path
//! (bill inquiry of an unchanged line) takes one uncontended read lock.

pub mod data;
pub mod faults;

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use arc_swap::ArcSwap;
use rand::Rng as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::domain::identity::LineNumber;
use data::Line;
use faults::{Endpoint, Fault, FaultRequest, FaultTable, Mode, Stats};

/// Notifications the MVNO receiver keeps for `received` (oldest dropped first).
const RECEIVED_KEEP: usize = 10_000;
/// Customers `mock-datas` may create (it is open to anyone: its memory stays bounded).
pub const CREATED_LINES_MAX: usize = 10_000;
/// The browser origin the simulator answers CORS for unless told otherwise (the web
/// client's development server).
pub const DEFAULT_CORS_ORIGIN: &str = "http://localhost:3000";

#[derive(Default)]
pub struct SimState {
    faults: ArcSwap<FaultTable>,
    stats: Stats,
    lines: RwLock<HashMap<String, Line>>,
    changes: Mutex<HashMap<String, Value>>,
    received: Mutex<VecDeque<ReceivedItem>>,
    /// Lines `mock-datas` created (bounded by [`CREATED_LINES_MAX`]).
    created: std::sync::atomic::AtomicUsize,
    /// Keys the generated lines' customer ids (random at start: not guessable).
    customer_key: CustomerKey,
}

struct CustomerKey([u8; 32]);

impl Default for CustomerKey {
    fn default() -> Self {
        Self(rand::random())
    }
}

impl SimState {
    fn line(&self, digits: &str) -> Option<Line> {
        if let Ok(lines) = self.lines.read() {
            if let Some(l) = lines.get(digits) {
                return Some(l.clone());
            }
        }
        data::base_line(digits, &self.customer_key.0)
    }
}

/// A running simulator: its port, its server, and its state (shared with phonebill's own
/// `POST /api/v1/kos/mock-datas` while it is the built-in one).
pub struct Running {
    pub port: u16,
    pub server: Server,
    pub state: web::Data<SimState>,
}

/// Starts the simulator on `host:port` (0 = a free port) with `workers` threads, answering
/// CORS for [`DEFAULT_CORS_ORIGIN`].
pub fn start(host: &str, port: u16, workers: usize) -> std::io::Result<(u16, Server)> {
    let running = launch(host, port, workers, &[DEFAULT_CORS_ORIGIN.to_string()])?;
    Ok((running.port, running.server))
}

/// Starts the simulator, answering CORS (preflights included) for `cors_origins`: the web
/// client calls `mock-datas` from the browser.
pub fn launch(
    host: &str,
    port: u16,
    workers: usize,
    cors_origins: &[String],
) -> std::io::Result<Running> {
    let listener = TcpListener::bind((host, port))?;
    let port = listener.local_addr()?.port();
    let state = web::Data::new(SimState::default());
    let shared = state.clone();
    let origins = cors_origins.to_vec();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|e, _| {
                        actix_web::error::InternalError::from_response(
                            e,
                            HttpResponse::BadRequest().json(
                                json!({ "resultCode": "9998", "resultMessage": "bad request" }),
                            ),
                        )
                        .into()
                    }),
            )
            .configure(routes)
            .wrap(cors(&origins))
    })
    .workers(workers.max(1))
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(Running {
        port,
        server,
        state,
    })
}

fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "OPTIONS"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/kos")
            .route("/bill/inquiry", web::post().to(bill_inquiry))
            .route(
                "/bill/available-months/{line}",
                web::get().to(available_months),
            )
            .route("/product/change", web::post().to(product_change))
            .route("/product/list", web::get().to(product_list))
            .route("/product/inquiry", web::post().to(product_inquiry))
            .route("/mock-datas", web::post().to(mock_datas))
            .route("/admin/faults", web::put().to(put_faults))
            .route("/admin/faults", web::get().to(get_faults))
            .route("/admin/stats", web::get().to(get_stats))
            .route("/admin/stats/reset", web::post().to(reset_stats)),
    )
    .service(
        web::scope("/api/v1/mvno")
            .route("/bill-results", web::post().to(mvno_bill))
            .route("/product-change-results", web::post().to(mvno_change))
            .route("/admin/received", web::get().to(mvno_received)),
    );
}

fn ok(data: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "resultCode": "0000", "resultMessage": "정상", "data": data }))
}

fn refusal(code: &str, message: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "resultCode": code, "resultMessage": message, "data": null }))
}

/// Counts the call and applies `down`: `None` means refuse with [`down`].
fn gate(state: &SimState, endpoint: Endpoint, stat: &str) -> Option<Fault> {
    state.stats.count(stat);
    let fault = state.faults.load().get(endpoint);
    (fault.mode != Mode::Down).then_some(fault)
}

fn down() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(json!({ "resultCode": "9999", "resultMessage": "KOS unavailable" }))
}

/// The answer a fault puts in place of the real one: `9999` for `error` mode or the
/// failure rate, a wrongly shaped `0000` for `malformed`.
fn injected(fault: &Fault) -> Option<HttpResponse> {
    if fault.mode == Mode::Malformed {
        return Some(ok(json!({ "unexpected": true })));
    }
    let fails = fault.mode == Mode::Error
        || (fault.failure_rate > 0.0 && rand::thread_rng().gen::<f64>() < fault.failure_rate);
    fails.then(system_error)
}

/// Delays the answer as the fault says: `hang` never answers, latency waits.
async fn answer(fault: Fault, response: HttpResponse) -> HttpResponse {
    if fault.mode == Mode::Hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if fault.latency_ms > 0 {
        tokio::time::sleep(fault.latency()).await;
    }
    response
}

fn system_error() -> HttpResponse {
    refusal("9999", "시스템 오류")
}

fn digits(line: &str) -> Option<String> {
    LineNumber::parse(line).ok().map(|l| l.digits().to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BillRequest {
    line_number: String,
    billing_month: String,
    #[allow(dead_code)]
    #[serde(default)]
    request_id: Option<String>,
}

async fn bill_inquiry(state: web::Data<SimState>, body: web::Json<BillRequest>) -> HttpResponse {
    let Some(fault) = gate(&state, Endpoint::BillInquiry, "bill-inquiry") else {
        return down();
    };
    if let Some(r) = injected(&fault) {
        return answer(fault, r).await;
    }
    let response = match digits(&body.line_number).and_then(|d| state.line(&d)) {
        None => refusal("1001", "존재하지 않는 회선입니다"),
        Some(line) if line.line_status != "ACTIVE" => refusal("1002", "사용 중이 아닌 회선입니다"),
        Some(line) => {
            let month = body.billing_month.replace('-', "");
            match data::bill(&line, &month, &data::available_months()) {
                Some(bill) => ok(bill),
                None => refusal("1003", "해당 월의 청구 내역이 없습니다"),
            }
        }
    };
    answer(fault, response).await
}

async fn available_months(state: web::Data<SimState>, path: web::Path<String>) -> HttpResponse {
    let Some(fault) = gate(&state, Endpoint::BillInquiry, "available-months") else {
        return down();
    };
    if let Some(r) = injected(&fault) {
        return answer(fault, r).await;
    }
    let response = match digits(&path).and_then(|d| state.line(&d)) {
        None => refusal("1001", "존재하지 않는 회선입니다"),
        Some(line) => {
            ok(json!({ "lineNumber": line.line_number, "months": data::available_months() }))
        }
    };
    answer(fault, response).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeRequest {
    line_number: String,
    #[serde(default)]
    current_product_code: Option<String>,
    target_product_code: String,
    request_id: String,
}

async fn product_change(
    state: web::Data<SimState>,
    body: web::Json<ChangeRequest>,
) -> HttpResponse {
    let Some(fault) = gate(&state, Endpoint::ProductChange, "product-change") else {
        return down();
    };
    if let Some(r) = injected(&fault) {
        return answer(fault, r).await;
    }
    // Applied before any delay: a caller that times out does not know whether it happened.
    let response = apply_change(&state, &body);
    answer(fault, response).await
}

fn apply_change(state: &SimState, req: &ChangeRequest) -> HttpResponse {
    let Ok(mut done) = state.changes.lock() else {
        return system_error();
    };
    if let Some(previous) = done.get(&req.request_id) {
        return HttpResponse::Ok().json(previous);
    }
    let Some(key) = digits(&req.line_number) else {
        return refusal("2001", "존재하지 않는 회선입니다");
    };
    let outcome = match state.line(&key) {
        None => Err(("2001", "존재하지 않는 회선입니다")),
        Some(line) if line.line_status != "ACTIVE" => Err(("2002", "사용 중이 아닌 회선입니다")),
        Some(line) => match data::product(&req.target_product_code) {
            None => Err(("2003", "존재하지 않는 상품입니다")),
            Some(p) if !p.is_available => Err(("2004", "판매 중이 아닌 상품입니다")),
            Some(p) if p.operator_code != line.operator_code => {
                Err(("2005", "사업자가 일치하지 않습니다"))
            }
            Some(p) => Ok((line, p)),
        },
    };
    let body = match outcome {
        Err((code, message)) => {
            json!({ "resultCode": code, "resultMessage": message, "data": null })
        }
        Ok((mut line, product)) => {
            let previous =
                std::mem::replace(&mut line.product_code, product.product_code.to_string());
            let data = json!({
                "requestId": req.request_id,
                "lineNumber": line.line_number,
                "previousProductCode": previous,
                "requestedCurrentProductCode": req.current_product_code,
                "productCode": product.product_code,
                "productName": product.product_name,
                "kosOrderId": format!("KOS{:016X}", data::hash(req.request_id.as_bytes())),
                "processedAt": chrono::Utc::now().to_rfc3339(),
            });
            if let Ok(mut lines) = state.lines.write() {
                lines.insert(key, line);
            }
            json!({ "resultCode": "0000", "resultMessage": "정상", "data": data })
        }
    };
    done.insert(req.request_id.clone(), body.clone());
    HttpResponse::Ok().json(body)
}

async fn product_list(state: web::Data<SimState>) -> HttpResponse {
    let Some(fault) = gate(&state, Endpoint::ProductList, "product-list") else {
        return down();
    };
    if let Some(r) = injected(&fault) {
        return answer(fault, r).await;
    }
    answer(fault, ok(json!({ "products": data::CATALOGUE }))).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineRequest {
    line_number: String,
}

async fn product_inquiry(state: web::Data<SimState>, body: web::Json<LineRequest>) -> HttpResponse {
    let Some(fault) = gate(&state, Endpoint::ProductInquiry, "product-inquiry") else {
        return down();
    };
    if let Some(r) = injected(&fault) {
        return answer(fault, r).await;
    }
    let response = match digits(&body.line_number).and_then(|d| state.line(&d)) {
        None => refusal("1001", "존재하지 않는 회선입니다"),
        Some(line) => {
            let product = data::product(&line.product_code);
            let h = data::hash(line.line_number.as_bytes());
            ok(json!({
                "lineNumber": line.line_number,
                "customerId": line.customer_id,
                "customerName": line.customer_name,
                "operatorCode": line.operator_code,
                "lineStatus": line.line_status,
                "currentProductCode": line.product_code,
                "currentProductName": product.map(|p| p.product_name),
                "contractInfo": {
                    "contractDate": line.contract_date,
                    "termEndDate": data::term_end(&line.contract_date),
                    "earlyTerminationFee": (h % 30) as i64 * 10_000,
                },
            }))
        }
    };
    answer(fault, response).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MockDataRequest {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub customer_id: String,
    #[schema(pattern = "^010-?[0-9]{4}-?[0-9]{4}$", example = "010-1234-5001")]
    pub line_number: String,
}

/// The answer of `mock-datas`, in KOS's shape: the line, or a refusal whose `message` the
/// web client shows.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = MockData)]
#[serde(rename_all = "camelCase")]
pub struct MockDataAnswer<'a> {
    pub data: Option<&'a Line>,
    /// Only on refusals (the same as `resultMessage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    /// `0000`; `1004` the line is another customer's, `9998` invalid input, `9999` full.
    #[schema(example = "0000")]
    pub result_code: &'static str,
    pub result_message: &'static str,
}

/// What `mock-datas` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockData {
    /// The line was created for the customer.
    Created(Line),
    /// The line already existed for this customer: answered as it is.
    Existing(Line),
    /// The line exists for another customer: refused, revealing nothing about it.
    OthersLine,
    /// The customer id or line number does not parse (the field).
    Invalid(&'static str),
    /// [`CREATED_LINES_MAX`] lines were created already.
    Full,
}

impl SimState {
    /// Creates a customer on a new line with a default product and 12 months of bills.
    pub fn create_customer(&self, customer_id: &str, line_number: &str) -> MockData {
        self.stats.count("mock-datas");
        if crate::domain::identity::CustomerId::parse(customer_id).is_err() {
            return MockData::Invalid("customerId");
        }
        let Some(key) = digits(line_number) else {
            return MockData::Invalid("lineNumber");
        };
        let Ok(mut lines) = self.lines.write() else {
            return MockData::Full;
        };
        let base = || data::base_line(&key, &self.customer_key.0);
        if let Some(existing) = lines.get(&key).cloned().or_else(base) {
            return if existing.customer_id == customer_id {
                MockData::Existing(existing)
            } else {
                MockData::OthersLine
            };
        }
        use std::sync::atomic::Ordering;
        if self.created.load(Ordering::Relaxed) >= CREATED_LINES_MAX {
            return MockData::Full;
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        let line = Line {
            line_number: key.clone(),
            customer_id: customer_id.to_string(),
            customer_name: format!("고객{}", &customer_id[..customer_id.len().min(8)]),
            operator_code: "KT".into(),
            line_status: "ACTIVE".into(),
            product_code: "LTE-BASIC-001".into(),
            contract_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        };
        lines.insert(key, line.clone());
        MockData::Created(line)
    }
}

/// The HTTP answer of a `mock-datas` outcome (also phonebill's, on its own port). Failures
/// carry `message` too: the web client shows it.
pub fn mock_data_response(outcome: &MockData) -> HttpResponse {
    let failure =
        |status: actix_web::http::StatusCode, code: &'static str, message: &'static str| {
            HttpResponse::build(status).json(MockDataAnswer {
                data: None,
                message: Some(message),
                result_code: code,
                result_message: message,
            })
        };
    use actix_web::http::StatusCode;
    match outcome {
        MockData::Created(line) | MockData::Existing(line) => {
            HttpResponse::Ok().json(MockDataAnswer {
                data: Some(line),
                message: None,
                result_code: "0000",
                result_message: "정상",
            })
        }
        MockData::OthersLine => failure(
            StatusCode::CONFLICT,
            "1004",
            "다른 고객에게 등록된 회선입니다",
        ),
        MockData::Invalid("customerId") => failure(
            StatusCode::BAD_REQUEST,
            "9998",
            "customerId: 영문, 숫자, _, - 로 1~64자여야 합니다",
        ),
        MockData::Invalid(_) => failure(
            StatusCode::BAD_REQUEST,
            "9998",
            "lineNumber: 010으로 시작하는 11자리 번호여야 합니다",
        ),
        MockData::Full => failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "9999",
            "시뮬레이터가 만들 수 있는 고객 수를 넘었습니다",
        ),
    }
}

/// Creates a customer on a new line (the web client's register page calls this).
pub async fn mock_datas(
    state: web::Data<SimState>,
    body: web::Json<MockDataRequest>,
) -> HttpResponse {
    mock_data_response(&state.create_customer(&body.customer_id, &body.line_number))
}

async fn put_faults(state: web::Data<SimState>, body: web::Json<FaultRequest>) -> HttpResponse {
    match state.faults.load().apply(&body) {
        Ok(next) => {
            state.faults.store(std::sync::Arc::new(next));
            get_faults(state).await
        }
        Err(message) => HttpResponse::BadRequest()
            .json(json!({ "resultCode": "9998", "resultMessage": message })),
    }
}

async fn get_faults(state: web::Data<SimState>) -> HttpResponse {
    let table = state.faults.load();
    let view: HashMap<&str, Fault> = Endpoint::ALL
        .iter()
        .map(|e| (e.name(), table.get(*e)))
        .collect();
    HttpResponse::Ok().json(view)
}

async fn get_stats(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats.snapshot())
}

async fn reset_stats(state: web::Data<SimState>) -> HttpResponse {
    state.stats.reset();
    HttpResponse::Ok().json(state.stats.snapshot())
}

/// A notification as the receiver keeps it: its text as posted, parsed only to be shown.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceivedItem {
    kind: &'static str,
    received_at: String,
    payload: Box<RawValue>,
}

/// The line a notification is about (`result.lineNumber`), when it names one.
#[derive(Deserialize)]
struct AboutLine {
    result: Option<LineOf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineOf {
    line_number: Option<String>,
}

async fn mvno_receive(
    state: web::Data<SimState>,
    kind: &'static str,
    body: Box<RawValue>,
) -> HttpResponse {
    let Some(fault) = gate(&state, Endpoint::Mvno, "mvno") else {
        return down();
    };
    if let Some(r) = injected(&fault) {
        return answer(fault, r).await;
    }
    // One result per POST (the contract), or several as an array (phonebill's
    // `[mvno] per_post` above 1); each is kept as one received item, as it was posted.
    let items: Vec<Box<RawValue>> = if body.get().trim_start().starts_with('[') {
        match serde_json::from_str(body.get()) {
            Ok(items) => items,
            Err(_) => return HttpResponse::BadRequest().json(json!({ "resultCode": "4000" })),
        }
    } else {
        vec![body]
    };
    let faults = state.faults.load();
    let refused = |item: &RawValue| {
        serde_json::from_str::<AboutLine>(item.get())
            .ok()
            .and_then(|a| a.result?.line_number)
            .is_some_and(|line| faults.refuses_line(&line))
    };
    if faults.refuses_lines() && items.iter().any(|i| refused(i)) {
        let refusal = HttpResponse::UnprocessableEntity()
            .json(json!({ "resultCode": "4220", "resultMessage": "line not served" }));
        return answer(fault, refusal).await;
    }
    if let Ok(mut received) = state.received.lock() {
        let at = chrono::Utc::now().to_rfc3339();
        for payload in items {
            if received.len() == RECEIVED_KEEP {
                received.pop_front();
            }
            received.push_back(ReceivedItem {
                kind,
                received_at: at.clone(),
                payload,
            });
        }
    }
    answer(fault, ok(json!({}))).await
}

async fn mvno_bill(state: web::Data<SimState>, body: web::Json<Box<RawValue>>) -> HttpResponse {
    mvno_receive(state, "bill-result", body.into_inner()).await
}

async fn mvno_change(state: web::Data<SimState>, body: web::Json<Box<RawValue>>) -> HttpResponse {
    mvno_receive(state, "product-change-result", body.into_inner()).await
}

async fn mvno_received(state: web::Data<SimState>) -> HttpResponse {
    let Ok(received) = state.received.lock() else {
        return HttpResponse::Ok().json(json!({ "count": 0, "items": [] }));
    };
    let items: Vec<&ReceivedItem> = received.iter().collect();
    HttpResponse::Ok().json(json!({ "count": items.len(), "items": items }))
}
