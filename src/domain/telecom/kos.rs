//! What KOS-Order tells phonebill: a customer and their line, the product catalogue, a
//! month's bill, a change's receipt; and an answer's two shapes (data, or a refusal with
//! KOS's result code). Plain data, checked for being well formed when it arrives.

use serde::{Deserialize, Serialize};

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

/// Checks that an answer is about what was asked.
pub trait WellFormed {
    fn well_formed(&self) -> Result<(), String> {
        Ok(())
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

impl WellFormed for KosBill {
    fn well_formed(&self) -> Result<(), String> {
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

impl WellFormed for KosProductList {
    fn well_formed(&self) -> Result<(), String> {
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

impl WellFormed for KosCustomer {}

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

impl WellFormed for KosChange {}
