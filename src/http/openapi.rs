//! `GET /openapi.json` (the OpenAPI 3.0 description of every endpoint) and `GET /docs`
//! (Redoc, served from the binary: nothing is fetched from the internet).
//!
//! The description is built here from one table of operations; the integration test
//! `openapi_describes_every_route` calls each one to prove it exists, so the table and
//! the routes cannot drift apart silently.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

const REDOC_JS: &[u8] = include_bytes!("assets/redoc.standalone.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi))
        .route("/docs", web::get().to(docs))
        .route("/docs/redoc.standalone.js", web::get().to(redoc));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// `/docs` loads only its own script and document and may not be framed (clickjacking).
/// Redoc needs inline styles, `eval` (its schema validator compiles) and blob workers.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", DOCS_CSP))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(
            r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>phonebill API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{margin:0;padding:0}</style></head>
<body><redoc spec-url="/openapi.json" hide-download-button></redoc>
<script src="/docs/redoc.standalone.js"></script></body></html>"#,
        )
}

async fn redoc() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(REDOC_JS)
}

/// Who may call an operation.
#[derive(Clone, Copy)]
pub enum Access {
    Public,
    /// A valid access token of a live session, with this permission if any.
    Bearer(Option<&'static str>),
}

/// One documented operation.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// `(name, in, description)`; path parameters are required.
    pub params: &'static [(&'static str, &'static str, &'static str)],
    /// Schema name of the JSON body, if any.
    pub body: Option<&'static str>,
    /// Status and schema name of the success answer; `Envelope:X` wraps X in the envelope.
    pub ok: (u16, &'static str),
    /// Failure statuses besides the ones every operation of its kind has.
    pub errors: &'static [u16],
}

/// Every endpoint of the service.
pub const OPERATIONS: &[Op] = &[
    Op { method: "post", path: "/api/v1/auth/login", tag: "auth", summary: "Log in (raw snake_case answer)", access: Access::Public, params: &[], body: Some("LoginRequest"), ok: (200, "LoginResponse"), errors: &[400, 401, 423, 429, 503] },
    Op { method: "post", path: "/api/v1/auth/refresh", tag: "auth", summary: "Rotate the token pair; a spent refresh token revokes its family", access: Access::Public, params: &[], body: Some("RefreshRequest"), ok: (200, "Envelope:TokenPair"), errors: &[400, 401, 503] },
    Op { method: "post", path: "/api/v1/auth/logout", tag: "auth", summary: "End the session on every instance (idempotent)", access: Access::Bearer(None), params: &[], body: None, ok: (200, "Envelope:Empty"), errors: &[503] },
    Op { method: "post", path: "/api/v1/auth/register", tag: "auth", summary: "Self-registration (BILL_INQUIRY / PRODUCT_CHANGE only). Checked in order: input (400), rate (429), taken user id or line (409), then KOS: a line KOS holds for another customer is 400; one KOS does not know is accepted while [auth] allow_unknown_lines. 403 when [auth] self_registration is off", access: Access::Public, params: &[], body: Some("RegisterRequest"), ok: (201, "Envelope:RegisteredUser"), errors: &[400, 403, 409, 429, 503] },
    Op { method: "get", path: "/api/v1/auth/verify", tag: "auth", summary: "Check the access token and its session", access: Access::Bearer(None), params: &[], body: None, ok: (200, "Envelope:Verify"), errors: &[] },
    Op { method: "get", path: "/api/v1/auth/permissions", tag: "auth", summary: "The caller's permissions", access: Access::Bearer(None), params: &[], body: None, ok: (200, "Envelope:Permissions"), errors: &[] },
    Op { method: "post", path: "/api/v1/auth/permissions/check", tag: "auth", summary: "Whether the caller may use a service", access: Access::Bearer(None), params: &[], body: Some("PermissionCheckRequest"), ok: (200, "Envelope:PermissionCheck"), errors: &[400] },
    Op { method: "post", path: "/api/v1/auth/unlock/{userId}", tag: "auth", summary: "Unlock an account locked after failed logins", access: Access::Bearer(Some("ADMIN")), params: &[("userId", "path", "User id")], body: None, ok: (200, "Envelope:Unlocked"), errors: &[400, 404] },
    Op { method: "get", path: "/api/v1/users/{userId}", tag: "auth", summary: "An account (self or ADMIN; raw snake_case)", access: Access::Bearer(None), params: &[("userId", "path", "User id")], body: None, ok: (200, "User"), errors: &[400, 404] },
    Op { method: "post", path: "/api/v1/users", tag: "auth", summary: "Create an account (any permissions; also while [auth] self_registration is off). Taken user id or line 409; a line KOS holds for another customer 400", access: Access::Bearer(Some("USER_MANAGEMENT")), params: &[], body: Some("CreateUserRequest"), ok: (201, "Envelope:RegisteredUser"), errors: &[400, 409, 503] },
    Op { method: "post", path: "/api/v1/users/{userId}/suspend", tag: "auth", summary: "Suspend an account: no more logins or refreshes, its sessions end on every instance at once", access: Access::Bearer(Some("USER_MANAGEMENT")), params: &[("userId", "path", "User id")], body: None, ok: (200, "Envelope:AccountChanged"), errors: &[400, 404] },
    Op { method: "post", path: "/api/v1/users/{userId}/resume", tag: "auth", summary: "Resume a suspended account (its sessions end too)", access: Access::Bearer(Some("USER_MANAGEMENT")), params: &[("userId", "path", "User id")], body: None, ok: (200, "Envelope:AccountChanged"), errors: &[400, 404] },
    Op { method: "put", path: "/api/v1/users/{userId}/permissions", tag: "auth", summary: "Replace an account's permissions; its sessions end, the next login carries them", access: Access::Bearer(Some("USER_MANAGEMENT")), params: &[("userId", "path", "User id")], body: Some("PermissionsRequest"), ok: (200, "Envelope:AccountChanged"), errors: &[400, 404] },
    Op { method: "get", path: "/api/v1/bills/menu", tag: "bills", summary: "The caller's line and the selectable months", access: Access::Bearer(Some("BILL_INQUIRY")), params: &[], body: None, ok: (200, "Envelope:BillMenu"), errors: &[503] },
    Op { method: "post", path: "/api/v1/bills/inquiry", tag: "bills", summary: "A month's bill (cache-aside in front of KOS)", access: Access::Bearer(Some("BILL_INQUIRY")), params: &[], body: Some("BillInquiryRequest"), ok: (200, "Envelope:BillResult"), errors: &[400, 404, 422, 503] },
    Op { method: "get", path: "/api/v1/bills/inquiry/{requestId}", tag: "bills", summary: "A past inquiry's answer (owner or ADMIN)", access: Access::Bearer(Some("BILL_INQUIRY")), params: &[("requestId", "path", "Request id")], body: None, ok: (200, "Envelope:BillResult"), errors: &[400, 404] },
    Op { method: "get", path: "/api/v1/bills/history", tag: "bills", summary: "Past inquiries of a line, newest first", access: Access::Bearer(Some("BILL_INQUIRY")), params: &[("lineNumber", "query", "Line (default: the caller's)"), ("startDate", "query", "YYYY-MM-DD"), ("endDate", "query", "YYYY-MM-DD"), ("status", "query", "COMPLETED or FAILED"), ("page", "query", "From 1 (default 1)"), ("size", "query", "1-100 (default 20)")], body: None, ok: (200, "Envelope:BillHistory"), errors: &[400] },
    Op { method: "get", path: "/api/v1/products/menu", tag: "products", summary: "The caller's customer info and current product", access: Access::Bearer(Some("PRODUCT_CHANGE")), params: &[], body: None, ok: (200, "Envelope:ProductMenu"), errors: &[404, 503] },
    Op { method: "get", path: "/api/v1/products/customer", tag: "products", summary: "Customer, current product, line status and contract", access: Access::Bearer(Some("PRODUCT_CHANGE")), params: &[("lineNumber", "query", "Line (default: the caller's)")], body: None, ok: (200, "Envelope:Customer"), errors: &[400, 404, 503] },
    Op { method: "get", path: "/api/v1/products/available", tag: "products", summary: "Products on sale (of an operator, other than the current)", access: Access::Bearer(Some("PRODUCT_CHANGE")), params: &[("currentProductCode", "query", "Excluded from the list"), ("operatorCode", "query", "Only this operator's (default: the caller's line's operator)")], body: None, ok: (200, "Envelope:ProductList"), errors: &[400, 404, 503] },
    Op { method: "post", path: "/api/v1/kos/mock-datas", tag: "kos", summary: "Create a new customer's KOS data (line, default product, 12 months of bills) in the built-in simulator, as the web client's register page does; only while the built-in simulator stands in for KOS (else 404). A line that exists for the same customer is answered as it is; for another customer 409", access: Access::Public, params: &[], body: Some("MockDataRequest"), ok: (200, "MockData"), errors: &[400, 404, 409, 503] },
    Op { method: "post", path: "/api/v1/products/change/validation", tag: "products", summary: "The pre-check alone, every check with PASS/FAIL", access: Access::Bearer(Some("PRODUCT_CHANGE")), params: &[], body: Some("ChangeRequest"), ok: (200, "Envelope:Validation"), errors: &[400, 404, 503] },
    Op { method: "post", path: "/api/v1/products/change", tag: "products", summary: "Change the product (optional Idempotency-Key header); 202 when KOS's outcome is unknown", access: Access::Bearer(Some("PRODUCT_CHANGE")), params: &[("Idempotency-Key", "header", "1-255 printable ASCII characters; kept 24 h")], body: Some("ChangeRequest"), ok: (200, "Envelope:ChangeResult"), errors: &[202, 400, 404, 409, 422, 503] },
    Op { method: "get", path: "/api/v1/products/change/{requestId}", tag: "products", summary: "A change's record (owner or ADMIN)", access: Access::Bearer(Some("PRODUCT_CHANGE")), params: &[("requestId", "path", "Request id")], body: None, ok: (200, "Envelope:ChangeRecord"), errors: &[400, 404] },
    Op { method: "get", path: "/api/v1/products/history", tag: "products", summary: "A line's change requests, newest first", access: Access::Bearer(Some("PRODUCT_CHANGE")), params: &[("lineNumber", "query", "Line (default: the caller's)"), ("startDate", "query", "YYYY-MM-DD, at most 2 years back"), ("endDate", "query", "YYYY-MM-DD"), ("page", "query", "From 1 (default 1)"), ("size", "query", "1-100 (default 10)")], body: None, ok: (200, "Envelope:ChangeHistory"), errors: &[400] },
    Op { method: "get", path: "/health/live", tag: "service", summary: "The process runs", access: Access::Public, params: &[], body: None, ok: (200, "Health"), errors: &[] },
    Op { method: "get", path: "/health/ready", tag: "service", summary: "PostgreSQL and Redis answer (breaker states shown)", access: Access::Public, params: &[], body: None, ok: (200, "Health"), errors: &[503] },
    Op { method: "get", path: "/metrics", tag: "service", summary: "Prometheus text exposition", access: Access::Public, params: &[], body: None, ok: (200, "Text"), errors: &[] },
    Op { method: "get", path: "/openapi.json", tag: "service", summary: "This document", access: Access::Public, params: &[], body: None, ok: (200, "Object"), errors: &[] },
    Op { method: "get", path: "/docs", tag: "service", summary: "Interactive documentation (offline)", access: Access::Public, params: &[], body: None, ok: (200, "Html"), errors: &[] },
    Op { method: "get", path: "/admin/actors", tag: "admin", summary: "Actor kinds, shards, mailboxes, breakers, caches, queues", access: Access::Bearer(Some("ADMIN")), params: &[], body: None, ok: (200, "Object"), errors: &[] },
    Op { method: "get", path: "/bench/bare", tag: "admin", summary: "Bare JSON handler, the throughput benchmark's baseline (only with [admin] bench_endpoints)", access: Access::Public, params: &[], body: None, ok: (200, "Object"), errors: &[404] },
    Op { method: "post", path: "/admin/faults/panic", tag: "admin", summary: "Make an actor panic (only with [admin] fault_injection)", access: Access::Bearer(Some("ADMIN")), params: &[("actor", "query", "session|account|kos|notifier|cache|history|products|reconciler")], body: None, ok: (202, "Object"), errors: &[400, 404] },
];

fn s(t: &str) -> Value {
    json!({ "type": t })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn obj(props: &[(&str, Value)]) -> Value {
    let mut p = Map::new();
    for (k, v) in props {
        p.insert((*k).to_string(), v.clone());
    }
    json!({ "type": "object", "properties": p })
}

/// `schema` with these properties required.
fn required(mut schema: Value, names: &[&str]) -> Value {
    schema["required"] = json!(names);
    schema
}

fn arr(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

/// The schemas of the account-management and simulator operations (apart from the main
/// table: one `json!` of everything exceeds the macro's recursion limit).
fn account_and_kos_schemas(line_in: &Value) -> Map<String, Value> {
    let all = json!({
        "CreateUserRequest": required(obj(&[
            ("userId", json!({"type": "string", "pattern": "^[a-zA-Z0-9_-]{3,20}$"})), ("customerId", s("string")), ("lineNumber", s("string")),
            ("userName", s("string")), ("password", json!({"type": "string", "minLength": 8, "maxLength": 50})),
            ("permissions", arr(json!({"type": "string", "enum": ["BILL_INQUIRY", "PRODUCT_CHANGE", "ADMIN", "USER_MANAGEMENT"]}))),
        ]), &["userId", "customerId", "lineNumber", "userName", "password"]),
        "PermissionsRequest": required(obj(&[("permissions", arr(json!({"type": "string", "enum": ["BILL_INQUIRY", "PRODUCT_CHANGE", "ADMIN", "USER_MANAGEMENT"]})))]), &["permissions"]),
        "AccountChanged": obj(&[("userId", s("string")), ("change", s("string")), ("sessionsEnded", s("integer"))]),
        "MockDataRequest": required(obj(&[
            ("customerId", json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})), ("lineNumber", line_in.clone()),
        ]), &["customerId", "lineNumber"]),
        "MockData": obj(&[("resultCode", s("string")), ("resultMessage", s("string")), ("data", obj(&[
            ("lineNumber", s("string")), ("customerId", s("string")), ("customerName", s("string")), ("operatorCode", s("string")),
            ("lineStatus", s("string")), ("productCode", s("string")), ("contractDate", s("string")),
        ]))]),
    });
    match all {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn schemas() -> Value {
    let product = obj(&[
        ("productCode", s("string")),
        ("productName", s("string")),
        ("monthlyFee", s("integer")),
        ("dataAllowance", s("string")),
        ("voiceAllowance", s("string")),
        ("smsAllowance", s("string")),
        ("isAvailable", s("boolean")),
        ("operatorCode", s("string")),
        ("description", s("string")),
    ]);
    let pagination = obj(&[
        ("currentPage", s("integer")),
        ("totalPages", s("integer")),
        ("totalItems", s("integer")),
        ("pageSize", s("integer")),
        ("hasNext", s("boolean")),
        ("hasPrevious", s("boolean")),
    ]);
    let bill_info = obj(&[
        ("lineNumber", s("string")),
        (
            "billingMonth",
            json!({"type": "string", "example": "202611"}),
        ),
        ("productCode", s("string")),
        ("productName", s("string")),
        ("monthlyFee", s("integer")),
        ("usageFee", s("integer")),
        ("discountAmount", s("integer")),
        ("totalFee", s("integer")),
        ("dataUsage", s("string")),
        ("voiceUsage", s("string")),
        ("smsUsage", s("string")),
        ("billStatus", s("string")),
        ("dueDate", json!({"type": "string", "example": "20261225"})),
        (
            "discountInfo",
            arr(obj(&[("name", s("string")), ("amount", s("integer"))])),
        ),
        ("estimatedCancellationFee", s("integer")),
        ("deviceInstallment", s("integer")),
        (
            "paymentInfo",
            obj(&[
                ("billingDate", s("string")),
                ("paymentStatus", s("string")),
                ("paymentMethod", s("string")),
            ]),
        ),
    ]);
    let line = json!({ "type": "string", "example": "010-1234-5001" });
    // What requests are held to (the domain newtypes' parse rules).
    let line_in = json!({ "type": "string", "pattern": "^010-?[0-9]{4}-?[0-9]{4}$", "example": "010-1234-5001" });
    let user_id = json!({ "type": "string", "pattern": "^[a-zA-Z0-9_-]{3,20}$" });
    let product_code =
        json!({ "type": "string", "pattern": "^[A-Z0-9-]{1,32}$", "example": "5G-STANDARD-001" });
    let more = account_and_kos_schemas(&line_in);
    let mut all = json!({
        "Error": obj(&[
            ("success", json!({"type": "boolean", "example": false})), ("resultCode", s("string")),
            ("resultMessage", s("string")), ("message", s("string")), ("data", json!({"nullable": true})),
            ("error", obj(&[("code", s("string")), ("message", s("string")), ("details", s("object"))])),
            ("fieldErrors", json!({"type": "object", "additionalProperties": {"type": "string"}, "description": "On 400 for input errors: {field: message}"})),
            ("timestamp", s("string")), ("traceId", json!({"type": "string", "description": "Equals the X-Request-Id header"})),
        ]),
        "Envelope": obj(&[
            ("success", json!({"type": "boolean", "example": true})), ("resultCode", json!({"type": "string", "example": "0000"})),
            ("resultMessage", s("string")), ("message", s("string")), ("data", s("object")),
            ("error", json!({"nullable": true})), ("timestamp", s("string")), ("traceId", s("string")),
        ]),
        "Empty": s("object"),
        "Object": s("object"),
        "Text": s("string"),
        "Html": s("string"),
        "Health": obj(&[("status", s("string")), ("checks", s("object")), ("kos", s("object"))]),
        "LoginRequest": required(obj(&[("userId", user_id.clone()), ("password", json!({"type": "string", "minLength": 1})), ("autoLogin", s("boolean"))]), &["userId", "password"]),
        "LoginResponse": obj(&[
            ("access_token", s("string")), ("refresh_token", s("string")), ("token_type", json!({"type": "string", "example": "Bearer"})),
            ("expires_in", json!({"type": "integer", "example": 1800})), ("user_id", s("string")), ("customer_id", s("string")),
            ("line_number", line.clone()),
            ("user", obj(&[("user_id", s("string")), ("user_name", s("string")), ("line_number", line.clone()), ("permissions", arr(s("string")))])),
        ]),
        "RefreshRequest": required(obj(&[("refreshToken", json!({"type": "string", "minLength": 1}))]), &["refreshToken"]),
        "TokenPair": obj(&[("accessToken", s("string")), ("refreshToken", s("string")), ("tokenType", s("string")), ("expiresIn", s("integer"))]),
        "RegisterRequest": required(obj(&[
            ("userId", user_id), ("customerId", s("string")), ("lineNumber", line_in.clone()),
            ("userName", s("string")), ("password", json!({"type": "string", "minLength": 8, "maxLength": 50})),
            ("permissions", arr(json!({"type": "string", "enum": ["BILL_INQUIRY", "PRODUCT_CHANGE"]}))),
        ]), &["userId", "customerId", "lineNumber", "userName", "password"]),
        "RegisteredUser": obj(&[("userId", s("string")), ("customerId", s("string")), ("lineNumber", line.clone()), ("userName", s("string")), ("permissions", arr(s("string")))]),
        "Verify": obj(&[("valid", s("boolean")), ("userId", s("string")), ("customerId", s("string")), ("lineNumber", line.clone()), ("expiresAt", s("string"))]),
        "Permissions": obj(&[("userId", s("string")), ("permissions", arr(obj(&[("permission", s("string")), ("description", s("string")), ("granted", s("boolean"))])))]),
        "PermissionCheckRequest": obj(&[("serviceType", json!({"type": "string", "enum": ["BILL_INQUIRY", "PRODUCT_CHANGE"]}))]),
        "PermissionCheck": obj(&[("serviceType", s("string")), ("hasPermission", s("boolean"))]),
        "Unlocked": obj(&[("userId", s("string")), ("unlocked", s("boolean"))]),
        "User": obj(&[("user_id", s("string")), ("user_name", s("string")), ("customer_id", s("string")), ("line_number", line.clone()), ("account_status", s("string")), ("permissions", arr(s("string")))]),
        "BillMenu": obj(&[
            ("customerInfo", obj(&[("customerId", s("string")), ("customerName", s("string")), ("lineNumber", line.clone())])),
            ("availableMonths", arr(json!({"type": "string", "example": "2026-11"}))), ("currentMonth", s("string")),
        ]),
        "BillInquiryRequest": obj(&[("lineNumber", line_in.clone()), ("inquiryMonth", json!({"type": "string", "description": "YYYYMM or YYYY-MM; default the current month"}))]),
        "BillInfo": bill_info,
        "BillResult": obj(&[
            ("requestId", s("string")), ("procStatus", s("string")), ("resultCode", s("string")), ("resultMessage", s("string")),
            ("billInfo", r("BillInfo")),
            ("customerInfo", obj(&[("customerName", s("string")), ("customerId", s("string")), ("operatorCode", s("string")), ("lineStatus", s("string"))])),
        ]),
        "Pagination": pagination,
        "BillHistory": obj(&[
            ("items", arr(obj(&[("requestId", s("string")), ("lineNumber", line.clone()), ("inquiryMonth", s("string")), ("requestTime", s("string")), ("processTime", s("string")), ("status", s("string")), ("resultSummary", s("string"))]))),
            ("pagination", r("Pagination")),
        ]),
        "Product": product,
        "ProductMenu": obj(&[("customerInfo", s("object")), ("currentProduct", r("Product"))]),
        "Customer": obj(&[
            ("customerId", s("string")), ("lineNumber", line.clone()), ("customerName", s("string")), ("currentProduct", r("Product")),
            ("lineStatus", s("string")), ("contractInfo", obj(&[("contractDate", s("string")), ("termEndDate", s("string")), ("earlyTerminationFee", s("integer"))])),
        ]),
        "ProductList": obj(&[("products", arr(r("Product"))), ("totalCount", s("integer"))]),
        "ChangeRequest": required(obj(&[("lineNumber", line_in.clone()), ("currentProductCode", product_code.clone()), ("targetProductCode", product_code)]), &["lineNumber", "currentProductCode", "targetProductCode"]),
        "Validation": obj(&[
            ("validationResult", json!({"type": "string", "enum": ["SUCCESS", "FAILURE"]})),
            ("validationDetails", arr(obj(&[
                ("checkType", json!({"type": "string", "enum": ["PRODUCT_AVAILABLE", "OPERATOR_MATCH", "LINE_STATUS", "TARGET_DIFFERS", "CURRENT_PRODUCT"]})),
                ("result", json!({"type": "string", "enum": ["PASS", "FAIL"]})), ("message", s("string")),
            ]))),
            ("failureReason", json!({"type": "string", "nullable": true})),
        ]),
        "ChangeResult": obj(&[
            ("requestId", s("string")), ("processStatus", json!({"type": "string", "enum": ["COMPLETED", "FAILED", "PROCESSING"]})),
            ("resultCode", s("string")), ("resultMessage", s("string")), ("changedProduct", r("Product")), ("processedAt", s("string")),
        ]),
        "ChangeRecord": obj(&[
            ("requestId", s("string")), ("lineNumber", line.clone()), ("processStatus", s("string")), ("currentProductCode", s("string")),
            ("targetProductCode", s("string")), ("resultCode", s("string")), ("resultMessage", s("string")), ("changedProduct", r("Product")),
            ("requestedAt", s("string")), ("processedAt", s("string")),
        ]),
        "ChangeHistory": obj(&[
            ("items", arr(obj(&[
                ("requestId", s("string")), ("lineNumber", line), ("processStatus", s("string")), ("currentProductCode", s("string")),
                ("currentProductName", s("string")), ("targetProductCode", s("string")), ("targetProductName", s("string")),
                ("requestedAt", s("string")), ("processedAt", s("string")), ("resultMessage", s("string")),
            ]))),
            ("pagination", r("Pagination")),
        ]),
    });
    if let Value::Object(m) = &mut all {
        m.extend(more);
    }
    all
}

fn success_schema(spec: &str) -> Value {
    match spec.strip_prefix("Envelope:") {
        Some(data) => {
            json!({ "allOf": [r("Envelope"), { "type": "object", "properties": { "data": r(data) } }] })
        }
        None => r(spec),
    }
}

fn error_description(status: u16) -> &'static str {
    match status {
        202 => "Accepted: KOS's outcome is unknown; the change is settled in the background",
        400 => "Bad input (malformed JSON, wrong types, invalid fields: see fieldErrors)",
        401 => "No, invalid, expired or revoked token",
        403 => "Missing permission (서비스 이용 권한이 없습니다) or another user's line",
        404 => "Not found",
        409 => {
            "Conflict (duplicate, pre-check failed, change in flight, idempotency key in flight)"
        }
        413 => "Body too large",
        422 => "Unprocessable (Idempotency-Key reused with another body, line not in use)",
        423 => "Account locked after 5 failed logins",
        429 => "Rate limited (Retry-After)",
        503 => "KOS or a store unavailable, or back-pressure (Retry-After)",
        _ => "Error",
    }
}

/// The whole OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut responses = Map::new();
        let ok_content = match op.ok.1 {
            "Text" => json!({ "text/plain": { "schema": s("string") } }),
            "Html" => json!({ "text/html": { "schema": s("string") } }),
            spec => json!({ "application/json": { "schema": success_schema(spec) } }),
        };
        responses.insert(
            op.ok.0.to_string(),
            json!({ "description": "Success", "content": ok_content }),
        );
        let mut errors: Vec<u16> = op.errors.to_vec();
        errors.push(413);
        if let Access::Bearer(perm) = op.access {
            errors.push(401);
            if perm.is_some() {
                errors.push(403);
            }
        }
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            let schema = if status == 202 {
                success_schema("Envelope:ChangeResult")
            } else {
                r("Error")
            };
            responses.insert(
                status.to_string(),
                json!({ "description": error_description(status), "content": { "application/json": { "schema": schema } } }),
            );
        }
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|(name, location, description)| {
                json!({ "name": name, "in": location, "required": *location == "path", "description": description, "schema": s("string") })
            })
            .collect();
        let mut operation = json!({
            "tags": [op.tag],
            "summary": op.summary,
            "parameters": params,
            "responses": responses,
        });
        if let Access::Bearer(perm) = op.access {
            operation["security"] = json!([{ "bearer": [] }]);
            if let Some(p) = perm {
                operation["description"] = json!(format!("Requires permission {p}."));
            }
        }
        if let Some(body) = op.body {
            operation["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": r(body) } } });
        }
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "phonebill",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "MVNO customer self-service backend: login, bill inquiry, rate-plan change. Every response carries X-Request-Id, equal to the envelope's traceId.",
        },
        "tags": [
            { "name": "auth" }, { "name": "bills" }, { "name": "products" }, { "name": "kos", "description": "The built-in KOS simulator, on phonebill's port" }, { "name": "service" }, { "name": "admin" },
        ],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
        },
    })
}
