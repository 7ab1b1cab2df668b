//! What the bill and product endpoints answer: one typed view per response, built from what
//! the handlers have (history rows, KOS's customer and catalogue), each with the JSON field
//! names and shapes the web client reads. `/openapi.json` describes them from these types.
//!
//! Fields are in alphabetical order, and nested KOS objects and the pagination serialize
//! through [`sorted`]: these views replaced `json!` objects, whose keys serialize sorted, so
//! the bytes stay as they were.

use serde::{Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::identity::LineNumber;
use crate::domain::paging::Pagination;
use crate::domain::telecom::bill::{InquiryStatus, PastInquiry};
use crate::domain::telecom::change::{ChangeRecord, ChangeStatus};
use crate::domain::telecom::kos::{KosContract, KosCustomer, KosProduct, KosProductList};

/// Serializes `value` with its keys sorted at every level, as a `json!` value does.
fn sorted<T: Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}

/// `GET /bills/menu`: the caller's line and the months they may choose.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillMenu {
    /// Newest first.
    #[schema(example = json!(["2026-11", "2026-10"]))]
    pub available_months: Vec<String>,
    #[schema(example = "2026-11")]
    pub current_month: String,
    pub customer_info: BillMenuCustomer,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillMenuCustomer {
    pub customer_id: String,
    pub customer_name: String,
    #[schema(example = "010-1234-5001")]
    pub line_number: String,
}

impl BillMenu {
    pub fn new(
        customer_id: String,
        customer_name: String,
        line: &LineNumber,
        available_months: Vec<String>,
        current_month: String,
    ) -> Self {
        Self {
            available_months,
            current_month,
            customer_info: BillMenuCustomer {
                customer_id,
                customer_name,
                line_number: line.to_string(),
            },
        }
    }
}

/// A past inquiry: the answer as it was given (stored verbatim), or, for one that got no
/// bill, its outcome.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PastInquiry)]
#[serde(untagged)]
pub enum InquiryAnswer {
    #[schema(value_type = crate::domain::telecom::bill::BillResult)]
    Answered(Value),
    Failed(FailedInquiry),
}

/// An inquiry that got no bill (KOS refused or was unavailable): these fields only.
// `deny_unknown_fields` only tells the schema so (`additionalProperties: false`), so that a
// bill's answer is not one of these too.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailedInquiry {
    pub proc_status: InquiryStatus,
    pub request_id: String,
    pub result_code: String,
    pub result_message: String,
}

impl From<&PastInquiry> for InquiryAnswer {
    fn from(s: &PastInquiry) -> Self {
        match &s.result {
            Some(answer) => InquiryAnswer::Answered(answer.clone()),
            None => InquiryAnswer::Failed(FailedInquiry {
                proc_status: s.status,
                request_id: s.request_id.clone(),
                result_code: s.result_code.clone(),
                result_message: s.result_message.clone(),
            }),
        }
    }
}

/// `GET /bills/history`: a page of a line's inquiries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillHistory {
    pub items: Vec<BillHistoryItem>,
    #[serde(serialize_with = "sorted")]
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillHistoryItem {
    #[schema(example = "2026-11")]
    pub inquiry_month: String,
    #[schema(example = "010-1234-5001")]
    pub line_number: String,
    pub process_time: String,
    pub request_id: String,
    pub request_time: String,
    /// `{month} 청구요금 {total}원` for a completed inquiry, the failure otherwise.
    pub result_summary: String,
    pub status: InquiryStatus,
}

impl From<&PastInquiry> for BillHistoryItem {
    fn from(s: &PastInquiry) -> Self {
        Self {
            inquiry_month: s.month.dashed(),
            line_number: s.line.to_string(),
            process_time: s.process_time.to_rfc3339(),
            request_id: s.request_id.clone(),
            request_time: s.request_time.to_rfc3339(),
            result_summary: s.summary(),
            status: s.status,
        }
    }
}

/// The catalogue product a customer has now (`null` when the catalogue does not list it).
fn current_product<'a>(c: &KosCustomer, products: &'a KosProductList) -> Option<&'a KosProduct> {
    products
        .products
        .iter()
        .find(|p| p.product_code == c.current_product_code)
}

/// `GET /products/customer`: customer, current product, line status and contract.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView<'a> {
    #[serde(serialize_with = "sorted")]
    pub contract_info: &'a KosContract,
    #[serde(serialize_with = "sorted")]
    pub current_product: Option<&'a KosProduct>,
    pub customer_id: &'a str,
    pub customer_name: &'a str,
    #[schema(example = "010-1234-5001")]
    pub line_number: String,
    pub line_status: &'a str,
    pub operator_code: &'a str,
}

impl<'a> CustomerView<'a> {
    /// The customer of `line` as KOS knows it (the gateway checked KOS answered about it).
    pub fn new(line: &LineNumber, c: &'a KosCustomer, products: &'a KosProductList) -> Self {
        Self {
            contract_info: &c.contract_info,
            current_product: current_product(c, products),
            customer_id: &c.customer_id,
            customer_name: &c.customer_name,
            line_number: line.to_string(),
            line_status: &c.line_status,
            operator_code: &c.operator_code,
        }
    }
}

/// `GET /products/menu`: the caller's customer info and current product.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductMenu<'a> {
    #[serde(serialize_with = "sorted")]
    pub current_product: Option<&'a KosProduct>,
    pub customer_info: ProductMenuCustomer<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductMenuCustomer<'a> {
    pub customer_id: &'a str,
    pub customer_name: &'a str,
    #[schema(example = "010-1234-5001")]
    pub line_number: String,
    pub line_status: &'a str,
    pub operator_code: &'a str,
}

impl<'a> ProductMenu<'a> {
    /// The menu of `line` (the caller's), whose customer KOS says is `c`.
    pub fn new(c: &'a KosCustomer, products: &'a KosProductList, line: &LineNumber) -> Self {
        Self {
            current_product: current_product(c, products),
            customer_info: ProductMenuCustomer {
                customer_id: &c.customer_id,
                customer_name: &c.customer_name,
                line_number: line.to_string(),
                line_status: &c.line_status,
                operator_code: &c.operator_code,
            },
        }
    }
}

/// `GET /products/available`: products on sale.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductList<'a> {
    #[serde(serialize_with = "sorted")]
    pub products: Vec<&'a KosProduct>,
    pub total_count: usize,
}

impl<'a> ProductList<'a> {
    pub fn new(products: Vec<&'a KosProduct>) -> Self {
        Self {
            total_count: products.len(),
            products,
        }
    }
}

/// `POST /products/change` while KOS's outcome is unknown (`202`): the reconciler settles it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeProcessing {
    pub process_status: ChangeStatus,
    pub request_id: String,
}

impl ChangeProcessing {
    pub fn new(request_id: String) -> Self {
        Self {
            process_status: ChangeStatus::Processing,
            request_id,
        }
    }
}

/// `GET /products/change/{requestId}`: a change's record.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChangeRecord)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecordView {
    /// Once settled: the product the line has now (null when the change failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<KosProduct>)]
    pub changed_product: Option<Value>,
    pub current_product_code: String,
    #[schema(example = "010-1234-5001")]
    pub line_number: String,
    pub process_status: ChangeStatus,
    pub processed_at: Option<String>,
    pub request_id: String,
    pub requested_at: String,
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    pub target_product_code: String,
}

impl From<&ChangeRecord> for ChangeRecordView {
    fn from(r: &ChangeRecord) -> Self {
        Self {
            // Present (maybe null) once KOS answered, as the record keeps it.
            changed_product: r
                .response
                .as_ref()
                .map(|answer| serde_json::to_value(&answer.changed_product).unwrap_or_default()),
            current_product_code: r.current.as_str().to_string(),
            line_number: r.line.to_string(),
            process_status: r.status,
            processed_at: r.processed_at.map(|t| t.to_rfc3339()),
            request_id: r.request_id.clone(),
            requested_at: r.requested_at.to_rfc3339(),
            result_code: r.result_code.clone(),
            result_message: r.result_message.clone(),
            target_product_code: r.target.as_str().to_string(),
        }
    }
}

/// `GET /products/history`: a page of a line's change requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChangeHistory)]
pub struct ChangeHistoryPage {
    pub items: Vec<ChangeHistoryItem>,
    #[serde(serialize_with = "sorted")]
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeHistoryItem {
    pub current_product_code: String,
    /// From the catalogue when it can be had.
    pub current_product_name: Option<String>,
    #[schema(example = "010-1234-5001")]
    pub line_number: String,
    pub process_status: ChangeStatus,
    pub processed_at: Option<String>,
    pub request_id: String,
    pub requested_at: String,
    pub result_message: Option<String>,
    pub target_product_code: String,
    /// From the catalogue when it can be had.
    pub target_product_name: Option<String>,
}

impl ChangeHistoryItem {
    /// A row, with product names from `catalogue` when there is one.
    pub fn new(r: &ChangeRecord, catalogue: Option<&KosProductList>) -> Self {
        let name_of = |code: &str| {
            catalogue
                .and_then(|p| p.products.iter().find(|x| x.product_code == code))
                .map(|p| p.product_name.clone())
        };
        Self {
            current_product_code: r.current.as_str().to_string(),
            current_product_name: name_of(r.current.as_str()),
            line_number: r.line.to_string(),
            process_status: r.status,
            processed_at: r.processed_at.map(|t| t.to_rfc3339()),
            request_id: r.request_id.clone(),
            requested_at: r.requested_at.to_rfc3339(),
            result_message: r.result_message.clone(),
            target_product_code: r.target.as_str().to_string(),
            target_product_name: name_of(r.target.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each view against the `json!` it replaced (copied from the handlers as they were):
    //! the same bytes.
    use chrono::{TimeZone as _, Utc};
    use serde_json::json;

    use super::*;
    use crate::domain::identity::UserId;
    use crate::domain::telecom::bill::PastInquiry;
    use crate::domain::telecom::change::{SettledChange, Verdict};
    use crate::domain::telecom::kos::KosContract;
    use crate::domain::telecom::product::ProductCode;
    use crate::domain::telecom::BillingMonth;

    fn product(code: &str, name: &str) -> KosProduct {
        KosProduct {
            product_code: code.into(),
            product_name: name.into(),
            monthly_fee: 55_000,
            data_allowance: "100GB".into(),
            voice_allowance: "무제한".into(),
            sms_allowance: "무제한".into(),
            is_available: true,
            operator_code: "KT".into(),
            description: "표준".into(),
        }
    }

    fn catalogue() -> KosProductList {
        KosProductList {
            products: vec![
                product("5G-STANDARD-001", "5G 스탠다드"),
                product("5G-PREMIUM-001", "5G 프리미엄"),
            ],
        }
    }

    fn customer(current: &str) -> KosCustomer {
        KosCustomer {
            line_number: "01012345001".into(),
            customer_id: "CUST001".into(),
            customer_name: "홍길동".into(),
            operator_code: "KT".into(),
            line_status: "ACTIVE".into(),
            current_product_code: current.into(),
            current_product_name: None,
            contract_info: KosContract {
                contract_date: "2024-01-01".into(),
                term_end_date: "2026-01-01".into(),
                early_termination_fee: 120_000,
            },
        }
    }

    fn same<T: Serialize>(view: &T, was: Value) {
        let now = serde_json::to_string(view).unwrap();
        assert_eq!(now, serde_json::to_string(&was).unwrap());
    }

    fn line() -> LineNumber {
        LineNumber::parse("01012345001").unwrap()
    }

    #[test]
    fn product_views_keep_their_bytes() {
        let products = catalogue();
        for current in ["5G-STANDARD-001", "NOT-IN-CATALOGUE"] {
            let c = customer(current);
            let found = products
                .products
                .iter()
                .find(|p| p.product_code == c.current_product_code);
            let view = json!({
                "customerId": c.customer_id,
                "lineNumber": line(),
                "customerName": c.customer_name,
                "currentProduct": found,
                "lineStatus": c.line_status,
                "operatorCode": c.operator_code,
                "contractInfo": c.contract_info,
            });
            same(&CustomerView::new(&line(), &c, &products), view.clone());
            let line = line();
            same(
                &ProductMenu::new(&c, &products, &line),
                json!({
                    "customerInfo": {
                        "customerId": c.customer_id,
                        "customerName": c.customer_name,
                        "lineNumber": line,
                        "lineStatus": c.line_status,
                        "operatorCode": c.operator_code,
                    },
                    "currentProduct": view["currentProduct"],
                }),
            );
        }
        let list: Vec<_> = products.products.iter().collect();
        same(
            &ProductList::new(list.clone()),
            json!({ "totalCount": list.len(), "products": list }),
        );
    }

    fn change_row(settled: bool) -> ChangeRecord {
        let verdict = Verdict::completed();
        ChangeRecord {
            request_id: "r-1".into(),
            user_id: UserId::parse("user01").unwrap(),
            line: line(),
            current: ProductCode::parse("5G-STANDARD-001").unwrap(),
            target: ProductCode::parse("5G-PREMIUM-001").unwrap(),
            status: if settled {
                ChangeStatus::Completed
            } else {
                ChangeStatus::Processing
            },
            result_code: settled.then(|| "0000".into()),
            result_message: settled.then(|| "완료".into()),
            response: settled.then(|| {
                SettledChange::new(
                    "r-1",
                    &verdict,
                    Some(&product("5G-PREMIUM-001", "5G 프리미엄")),
                )
            }),
            requested_at: Utc.with_ymd_and_hms(2026, 11, 2, 3, 4, 5).unwrap(),
            processed_at: settled.then(|| Utc.with_ymd_and_hms(2026, 11, 2, 3, 4, 6).unwrap()),
            check_attempts: 0,
        }
    }

    #[test]
    fn change_views_keep_their_bytes() {
        for settled in [true, false] {
            let r = change_row(settled);
            let mut view = json!({
                "requestId": r.request_id,
                "lineNumber": r.line,
                "processStatus": r.status,
                "currentProductCode": r.current,
                "targetProductCode": r.target,
                "resultCode": r.result_code,
                "resultMessage": r.result_message,
                "requestedAt": r.requested_at.to_rfc3339(),
                "processedAt": r.processed_at.map(|t| t.to_rfc3339()),
            });
            if let Some(answer) = &r.response {
                view["changedProduct"] = json!(answer.changed_product);
            }
            same(&ChangeRecordView::from(&r), view);

            for names in [Some(catalogue()), None] {
                let name_of = |code: &str| {
                    names
                        .as_ref()
                        .and_then(|p| p.products.iter().find(|x| x.product_code == code))
                        .map(|p| p.product_name.clone())
                };
                let item = json!({
                    "requestId": r.request_id,
                    "lineNumber": r.line,
                    "processStatus": r.status,
                    "currentProductCode": r.current,
                    "currentProductName": name_of(r.current.as_str()),
                    "targetProductCode": r.target,
                    "targetProductName": name_of(r.target.as_str()),
                    "requestedAt": r.requested_at.to_rfc3339(),
                    "processedAt": r.processed_at.map(|t| t.to_rfc3339()),
                    "resultMessage": r.result_message,
                });
                let page =
                    crate::domain::paging::PageRequest::parse(Some(2), Some(10), 10, 100).unwrap();
                same(
                    &ChangeHistoryPage {
                        items: vec![ChangeHistoryItem::new(&r, names.as_ref())],
                        pagination: Pagination::new(page, 31),
                    },
                    json!({ "items": [item], "pagination": Pagination::new(page, 31) }),
                );
            }
        }
    }

    fn stored(completed: bool) -> PastInquiry {
        PastInquiry {
            request_id: "q-1".into(),
            user_id: UserId::parse("user01").unwrap(),
            line: line(),
            month: BillingMonth::parse("202611").unwrap(),
            request_time: Utc.with_ymd_and_hms(2026, 11, 2, 3, 4, 5).unwrap(),
            process_time: Utc.with_ymd_and_hms(2026, 11, 2, 3, 4, 6).unwrap(),
            status: if completed {
                InquiryStatus::Completed
            } else {
                InquiryStatus::Failed
            },
            result_code: if completed { "0000" } else { "1003" }.into(),
            result_message: "청구 내역 없음".into(),
            result: completed.then(|| {
                json!({ "requestId": "q-1", "billInfo": { "totalFee": 51_000, "lineNumber": "010-1234-5001" } })
            }),
        }
    }

    #[test]
    fn bill_views_keep_their_bytes() {
        for completed in [true, false] {
            let s = stored(completed);
            // `GET /bills/inquiry/{requestId}`
            same(
                &InquiryAnswer::from(&s),
                s.result.clone().unwrap_or_else(|| {
                    json!({
                        "requestId": s.request_id,
                        "procStatus": s.status,
                        "resultCode": s.result_code,
                        "resultMessage": s.result_message,
                    })
                }),
            );
            // `GET /bills/history`
            let month = s.month.dashed();
            let summary = match s
                .result
                .as_ref()
                .and_then(|r| r["billInfo"]["totalFee"].as_i64())
            {
                Some(total) if s.status == InquiryStatus::Completed => {
                    format!("{month} 청구요금 {total}원")
                }
                _ => s.result_message.clone(),
            };
            let item = json!({
                "requestId": s.request_id,
                "lineNumber": s.line,
                "inquiryMonth": month,
                "requestTime": s.request_time.to_rfc3339(),
                "processTime": s.process_time.to_rfc3339(),
                "status": s.status,
                "resultSummary": summary,
            });
            let page = crate::domain::paging::PageRequest::parse(None, None, 20, 100).unwrap();
            same(
                &BillHistory {
                    items: vec![BillHistoryItem::from(&s)],
                    pagination: Pagination::new(page, 1),
                },
                json!({
                    "items": [item],
                    "pagination": Pagination::new(page, 1),
                }),
            );
        }
        // `GET /bills/menu`
        let months = vec!["2026-11".to_string(), "2026-10".to_string()];
        let line = line();
        same(
            &BillMenu::new(
                "CUST001".into(),
                "홍길동".into(),
                &line,
                months.clone(),
                "2026-11".into(),
            ),
            json!({
                "customerInfo": { "customerId": "CUST001", "customerName": "홍길동", "lineNumber": line },
                "availableMonths": months,
                "currentMonth": "2026-11",
            }),
        );
    }
}
