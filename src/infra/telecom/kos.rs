//! The KOS-Order HTTP API as phonebill uses it: request and answer types, and one call
//! classified into the outcomes the gateway and the edge care about. Answers are validated:
//! a `0000` without the expected data, or with data about another line, is malformed.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

/// A KOS answer: data, or a business refusal with its result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Ok(T),
    Refused { code: String, message: String },
}

impl<T> Answer<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Ok(v) => Answer::Ok(f(v)),
            Answer::Refused { code, message } => Answer::Refused { code, message },
        }
    }
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

/// Checks that an answer is about what was asked.
pub trait Validate {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub enum Method {
    Get,
    Post(serde_json::Value),
}

/// Makes one call and classifies the outcome.
pub async fn call<T: DeserializeOwned + Validate>(
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
                .validate()
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = Discount)]
#[serde(rename_all = "camelCase")]
pub struct KosDiscount {
    pub name: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = PaymentInfo)]
#[serde(rename_all = "camelCase")]
pub struct KosPaymentInfo {
    pub billing_date: String,
    pub payment_status: String,
    pub payment_method: String,
}

/// `POST /bill/inquiry` data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KosBill {
    pub line_number: String,
    pub billing_month: String,
    pub customer_id: String,
    pub customer_name: String,
    pub operator_code: String,
    pub line_status: String,
    pub product_code: String,
    pub product_name: String,
    pub monthly_fee: i64,
    pub usage_fee: i64,
    pub discount_amount: i64,
    pub total_fee: i64,
    pub data_usage: String,
    pub voice_usage: String,
    pub sms_usage: String,
    pub bill_status: String,
    pub due_date: String,
    pub discount_info: Vec<KosDiscount>,
    pub estimated_cancellation_fee: i64,
    pub device_installment: i64,
    pub payment_info: KosPaymentInfo,
}

impl Validate for KosBill {
    fn validate(&self) -> Result<(), String> {
        if self.monthly_fee < 0 || self.usage_fee < 0 || self.discount_amount < 0 {
            return Err("negative fee".into());
        }
        if self.billing_month.len() != 6 {
            return Err("billing month".into());
        }
        Ok(())
    }
}

/// A product of the KOS catalogue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = Product)]
#[serde(rename_all = "camelCase")]
pub struct KosProduct {
    pub product_code: String,
    pub product_name: String,
    pub monthly_fee: i64,
    pub data_allowance: String,
    pub voice_allowance: String,
    pub sms_allowance: String,
    pub is_available: bool,
    pub operator_code: String,
    pub description: String,
}

/// `GET /product/list` data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KosProductList {
    pub products: Vec<KosProduct>,
}

impl Validate for KosProductList {
    fn validate(&self) -> Result<(), String> {
        if self.products.is_empty() {
            return Err("empty catalogue".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = Contract)]
#[serde(rename_all = "camelCase")]
pub struct KosContract {
    pub contract_date: String,
    pub term_end_date: String,
    pub early_termination_fee: i64,
}

/// `POST /product/inquiry` data: the customer and their line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KosCustomer {
    pub line_number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub operator_code: String,
    pub line_status: String,
    pub current_product_code: String,
    #[serde(default)]
    pub current_product_name: Option<String>,
    pub contract_info: KosContract,
}

impl Validate for KosCustomer {}

/// `POST /product/change` data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KosChange {
    pub request_id: String,
    pub line_number: String,
    pub previous_product_code: String,
    pub product_code: String,
    pub product_name: String,
    pub processed_at: String,
}

impl Validate for KosChange {}
