//! The KOS-Order HTTP API as phonebill uses it: one call classified into the outcomes the
//! gateway and the edge care about (the data types are `domain::telecom::kos`). Answers are validated:
//! a `0000` without the expected data, or with data about another line, is malformed.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::domain::telecom::kos::{Answer, WellFormed};

/// Why a KOS call did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    /// Nothing was sent (connection refused, or KOS refused with 503 before acting).
    #[error("not sent: {0}")]
    NotSent(String),
    /// KOS answered that it failed (`9999`, other HTTP errors): it did not act.
    #[error("KOS failed: {0}")]
    Failed(String),
    /// The request may have reached KOS but no usable answer came back (time-out, broken
    /// connection, malformed answer): for a change, it may or may not have happened.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    result_code: String,
    #[serde(default)]
    result_message: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

/// The HTTP client of KOS calls (start-up: a client that cannot be built is an error, not
/// a default without the configured connect time-out).
pub fn client(settings: &crate::settings::KosSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .pool_max_idle_per_host(settings.max_concurrent_calls)
        .tcp_nodelay(true)
        .build()
}

#[derive(Debug, Clone)]
pub enum Method {
    Get,
    Post(serde_json::Value),
}

/// Makes one call and classifies the outcome.
pub async fn call<T: DeserializeOwned + WellFormed>(
    client: &reqwest::Client,
    url: String,
    method: Method,
    timeout: Duration,
) -> Result<Answer<T>, CallFailure> {
    let request = match method {
        Method::Get => client.get(url),
        Method::Post(body) => client.post(url).json(&body),
    };
    let response = request.timeout(timeout).send().await.map_err(|e| {
        if e.is_connect() {
            CallFailure::NotSent(e.to_string())
        } else if e.is_timeout() {
            CallFailure::Unknown("timed out".into())
        } else {
            CallFailure::Unknown(e.to_string())
        }
    })?;
    let status = response.status();
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Err(CallFailure::NotSent("KOS refused (503)".into()));
    }
    if !status.is_success() {
        // Another error status may come from a proxy after KOS acted: not known either way.
        return Err(CallFailure::Unknown(format!("HTTP {status}")));
    }
    let bytes = response.bytes().await.map_err(|e| {
        if e.is_timeout() {
            CallFailure::Unknown("timed out reading the answer".into())
        } else {
            CallFailure::Unknown(e.to_string())
        }
    })?;
    let envelope: Envelope = serde_json::from_slice(&bytes)
        .map_err(|e| CallFailure::Unknown(format!("malformed answer: {e}")))?;
    match envelope.result_code.as_str() {
        "0000" => {
            let data = envelope
                .data
                .ok_or_else(|| CallFailure::Unknown("malformed answer: no data".into()))?;
            let value: T = serde_json::from_value(data)
                .map_err(|e| CallFailure::Unknown(format!("malformed answer: {e}")))?;
            value
                .well_formed()
                .map_err(|e| CallFailure::Unknown(format!("malformed answer: {e}")))?;
            Ok(Answer::Ok(value))
        }
        "9999" => Err(CallFailure::Failed(format!(
            "9999 {}",
            envelope.result_message
        ))),
        code if code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Answer::Refused {
                code: code.to_string(),
                message: envelope.result_message,
            })
        }
        other => Err(CallFailure::Unknown(format!(
            "malformed answer: result code {other:?}"
        ))),
    }
}
