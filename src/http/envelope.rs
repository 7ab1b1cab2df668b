//! The response envelope `{success, resultCode, resultMessage, message, data, error,
//! timestamp, traceId}` and the request id every response carries.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

tokio::task_local! {
    /// Id of the request being served; set by the request-id middleware for the whole call.
    pub static REQUEST_ID: String;
}

/// The current request id ("-" outside a request).
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_string())
}

/// The success envelope around every `/api/v1` answer but login's and a user's (raw) and the
/// simulator's; failures that carry data (a failed pre-check) use it too, with `error` set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T: Serialize> {
    #[schema(example = true)]
    pub success: bool,
    #[schema(example = "0000")]
    pub result_code: String,
    pub result_message: String,
    pub message: String,
    pub data: Option<T>,
    pub error: Option<ErrorBody>,
    pub timestamp: String,
    /// Equals the X-Request-Id header.
    pub trace_id: String,
}

/// The failure envelope of every error (`error.code` stable, `error.message` for people).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    #[schema(example = false)]
    pub success: bool,
    pub result_code: String,
    pub result_message: String,
    pub message: String,
    /// Null: a failure carries no data.
    #[schema(value_type = Option<Object>, required = true)]
    pub data: Option<Value>,
    pub error: ErrorBody,
    pub timestamp: String,
    /// Equals the X-Request-Id header.
    pub trace_id: String,
    /// On 400 for input errors: `{field: message}`, read by the web client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_errors: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    /// `{field: message}` on input errors, `{lockedUntil}` on 423, `{retryAfterSeconds}` on
    /// 429 and 503; null otherwise.
    #[schema(value_type = Option<Object>, required = true)]
    pub details: Value,
}

pub fn now_iso() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

const OK_MESSAGE: &str = "정상 처리되었습니다";

/// `200` with `data` in a success envelope.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    with_status(StatusCode::OK, data)
}

/// `200` with `data` given as JSON already (a bill answer made from its template): the same
/// bytes `ok` would send for that data, without parsing or serializing it again.
pub fn ok_json(data: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(ok_envelope_json(data, &now_iso(), &request_id()))
}

/// `Envelope`'s success form around `data`, field by field in its order.
fn ok_envelope_json(data: &str, timestamp: &str, trace_id: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.len() + 256);
    body.extend_from_slice(br#"{"success":true,"resultCode":"0000","resultMessage":"#);
    push_json_str(&mut body, OK_MESSAGE);
    body.extend_from_slice(br#","message":"#);
    push_json_str(&mut body, OK_MESSAGE);
    body.extend_from_slice(br#","data":"#);
    body.extend_from_slice(data.as_bytes());
    body.extend_from_slice(br#","error":null,"timestamp":"#);
    push_json_str(&mut body, timestamp);
    body.extend_from_slice(br#","traceId":"#);
    push_json_str(&mut body, trace_id);
    body.push(b'}');
    body
}

/// `s` as a JSON string, escaped as serde_json escapes it.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

pub fn with_status<T: Serialize>(status: StatusCode, data: T) -> HttpResponse {
    with_message(status, "0000", OK_MESSAGE, data)
}

/// A success envelope with its own `resultCode` and message (e.g. an order's `200`
/// "결제가 완료되었습니다." or `202` `ORDER_PENDING`).
pub fn with_message<T: Serialize>(
    status: StatusCode,
    result_code: &str,
    message: &str,
    data: T,
) -> HttpResponse {
    HttpResponse::build(status).json(Envelope {
        success: true,
        result_code: result_code.into(),
        result_message: message.into(),
        message: message.into(),
        data: Some(data),
        error: None,
        timestamp: now_iso(),
        trace_id: request_id(),
    })
}

/// A failure envelope that also carries `data` (e.g. the pre-check's details on a 409).
pub fn failure_with_data<T: Serialize>(
    status: StatusCode,
    code: &str,
    message: &str,
    data: T,
) -> HttpResponse {
    HttpResponse::build(status).json(Envelope {
        success: false,
        result_code: code.into(),
        result_message: message.into(),
        message: message.into(),
        data: Some(data),
        error: Some(ErrorBody {
            code: code.into(),
            message: message.into(),
            details: Value::Null,
        }),
        timestamp: now_iso(),
        trace_id: request_id(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_around_json_is_the_envelope_ok_serializes() {
        let data =
            r#"{"requestId":"r-1","billInfo":{"totalFee":62500,"productName":"5G 스탠다드"}}"#;
        let raw: Box<serde_json::value::RawValue> = serde_json::from_str(data).unwrap();
        let (timestamp, trace_id) = ("2026-12-07T01:02:03.456Z", "abc-\"quoted\"");
        let serialized = serde_json::to_string(&Envelope {
            success: true,
            result_code: "0000".into(),
            result_message: OK_MESSAGE.into(),
            message: OK_MESSAGE.into(),
            data: Some(&*raw),
            error: None,
            timestamp: timestamp.into(),
            trace_id: trace_id.into(),
        })
        .unwrap();
        assert_eq!(
            ok_envelope_json(data, timestamp, trace_id),
            serialized.into_bytes()
        );
    }
}
