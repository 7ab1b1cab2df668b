//! What the simulated KOS knows: the catalogue, the demo lines, the generated load-test range
//! (computed from the number, so a million lines cost nothing until one changes) and twelve
//! months of deterministic bills per line.

use chrono::{Datelike, FixedOffset, NaiveDate, Offset as _, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub product_code: &'static str,
    pub product_name: &'static str,
    pub monthly_fee: i64,
    pub data_allowance: &'static str,
    pub voice_allowance: &'static str,
    pub sms_allowance: &'static str,
    pub is_available: bool,
    pub operator_code: &'static str,
    pub description: &'static str,
}

pub const CATALOGUE: [Product; 6] = [
    Product {
        product_code: "5G-PREMIUM-001",
        product_name: "5G 프리미엄",
        monthly_fee: 89_000,
        data_allowance: "무제한",
        voice_allowance: "무제한",
        sms_allowance: "무제한",
        is_available: true,
        operator_code: "KT",
        description: "5G 데이터 무제한 프리미엄 요금제",
    },
    Product {
        product_code: "5G-STANDARD-001",
        product_name: "5G 스탠다드",
        monthly_fee: 69_000,
        data_allowance: "110GB",
        voice_allowance: "무제한",
        sms_allowance: "무제한",
        is_available: true,
        operator_code: "KT",
        description: "5G 표준 요금제",
    },
    Product {
        product_code: "LTE-PREMIUM-001",
        product_name: "LTE 프리미엄",
        monthly_fee: 59_000,
        data_allowance: "100GB",
        voice_allowance: "무제한",
        sms_allowance: "무제한",
        is_available: true,
        operator_code: "KT",
        description: "LTE 대용량 요금제",
    },
    Product {
        product_code: "LTE-BASIC-001",
        product_name: "LTE 베이직",
        monthly_fee: 39_000,
        data_allowance: "10GB",
        voice_allowance: "300분",
        sms_allowance: "300건",
        is_available: true,
        operator_code: "KT",
        description: "LTE 기본 요금제",
    },
    Product {
        product_code: "3G-OLD-001",
        product_name: "3G 구형",
        monthly_fee: 29_000,
        data_allowance: "2GB",
        voice_allowance: "200분",
        sms_allowance: "100건",
        is_available: false,
        operator_code: "KT",
        description: "판매 종료된 3G 요금제",
    },
    Product {
        product_code: "LGU-5G-001",
        product_name: "LGU 5G",
        monthly_fee: 65_000,
        data_allowance: "150GB",
        voice_allowance: "무제한",
        sms_allowance: "무제한",
        is_available: true,
        operator_code: "LGU",
        description: "LGU 5G 요금제",
    },
];

pub fn product(code: &str) -> Option<&'static Product> {
    CATALOGUE.iter().find(|p| p.product_code == code)
}

/// A line as KOS sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = MockLine)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub line_number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub operator_code: String,
    pub line_status: String,
    pub product_code: String,
    pub contract_date: String,
}

/// `(line, customer, name, status, operator, product)`; names match `seed-demo`.
const DEMO_LINES: [(&str, &str, &str, &str, &str, &str); 6] = [
    (
        "01012345000",
        "CUST000",
        "관리자",
        "ACTIVE",
        "KT",
        "5G-PREMIUM-001",
    ),
    (
        "01012345001",
        "CUST001",
        "김민준",
        "ACTIVE",
        "KT",
        "5G-STANDARD-001",
    ),
    (
        "01012345002",
        "CUST002",
        "이서연",
        "ACTIVE",
        "KT",
        "LTE-BASIC-001",
    ),
    (
        "01012345003",
        "CUST003",
        "박지호",
        "SUSPENDED",
        "KT",
        "LTE-PREMIUM-001",
    ),
    (
        "01012345004",
        "CUST004",
        "최수아",
        "ACTIVE",
        "LGU",
        "LGU-5G-001",
    ),
    (
        "01012345005",
        "CUST005",
        "정하준",
        "ACTIVE",
        "KT",
        "5G-PREMIUM-001",
    ),
];

/// KT products a generated line may be on.
const GENERATED_PRODUCTS: [&str; 4] = [
    "5G-PREMIUM-001",
    "5G-STANDARD-001",
    "LTE-PREMIUM-001",
    "LTE-BASIC-001",
];

/// A line before any change: a demo line, a generated one, or unknown. A generated line's
/// customer id is keyed by `key` (the simulator's own, random at start): derived from the
/// number, but not guessable from it, so nobody can claim a stranger's generated line.
pub fn base_line(digits: &str, key: &[u8]) -> Option<Line> {
    if let Some((line, cust, name, status, op, prod)) = DEMO_LINES.iter().find(|l| l.0 == digits) {
        return Some(Line {
            line_number: (*line).into(),
            customer_id: (*cust).into(),
            customer_name: (*name).into(),
            operator_code: (*op).into(),
            line_status: (*status).into(),
            product_code: (*prod).into(),
            contract_date: "2024-03-01".into(),
        });
    }
    let n = generated_index(digits)?;
    let h = hash(digits.as_bytes());
    Some(Line {
        line_number: digits.into(),
        customer_id: generated_customer_id(digits, key),
        customer_name: format!("부하테스트{n}"),
        operator_code: "KT".into(),
        line_status: "ACTIVE".into(),
        product_code: GENERATED_PRODUCTS[(h % 4) as usize].into(),
        contract_date: format!("2024-{:02}-01", 1 + (h >> 8) % 12),
    })
}

/// `C` and 16 hex digits of HMAC-SHA256(key, line).
fn generated_customer_id(digits: &str, key: &[u8]) -> String {
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
        digits.as_bytes(),
    );
    let hex: String = mac.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("C{hex}")
}

/// `01050000000` … `01050999999` → 0 … 999999.
fn generated_index(digits: &str) -> Option<u32> {
    let rest = digits.strip_prefix("0105")?;
    if rest.len() != 7 || !rest.starts_with('0') {
        return None;
    }
    rest.parse().ok()
}

/// A contract's end: two years after it was signed (`YYYY-MM-DD`).
pub fn term_end(contract_date: &str) -> String {
    NaiveDate::parse_from_str(contract_date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_add_months(chrono::Months::new(24)))
        .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
}

/// FNV-1a: stable across runs and platforms, so the same line always gets the same data.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Billing months KOS holds: the current one (Korean time) and the 11 before, newest first.
pub fn available_months() -> Vec<String> {
    let kst = FixedOffset::east_opt(9 * 3600).unwrap_or(Utc.fix());
    let today = Utc::now().with_timezone(&kst).date_naive();
    let (mut y, mut m) = (today.year(), today.month());
    (0..12)
        .map(|_| {
            let s = format!("{y:04}{m:02}");
            if m == 1 {
                y -= 1;
                m = 12;
            } else {
                m -= 1;
            }
            s
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discount {
    pub name: &'static str,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInfo {
    pub billing_date: String,
    pub payment_status: &'static str,
    pub payment_method: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bill {
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
    pub bill_status: &'static str,
    pub due_date: String,
    pub discount_info: Vec<Discount>,
    pub estimated_cancellation_fee: i64,
    pub device_installment: i64,
    pub payment_info: PaymentInfo,
}

/// The bill of `line` for `month` (`YYYYMM`, one of `available_months()`).
pub fn bill(line: &Line, month: &str, months: &[String]) -> Option<Bill> {
    let position = months.iter().position(|m| m == month)?;
    let product = product(&line.product_code)?;
    let h = hash(format!("{}:{month}", line.line_number).as_bytes());
    let usage_fee = ((h % 40) * 500) as i64;
    let mut discount_info = vec![Discount {
        name: "선택약정 할인",
        amount: product.monthly_fee / 4,
    }];
    if h.is_multiple_of(3) {
        discount_info.push(Discount {
            name: "결합 할인",
            amount: 5_500,
        });
    }
    let discount_amount: i64 = discount_info.iter().map(|d| d.amount).sum();
    let device_installment = if h.is_multiple_of(2) { 25_000 } else { 0 };
    let (y, m) = (
        month[..4].parse::<i32>().ok()?,
        month[4..].parse::<u32>().ok()?,
    );
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 25)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 25)?
    };
    // The original KOS vocabulary: a past month's bill is `CONFIRMED` (the web client shows
    // 확정); the current month is still being counted.
    let (bill_status, payment_status) = match position {
        0 => ("UNBILLED", "NOT_DUE"),
        1 => ("CONFIRMED", "UNPAID"),
        _ => ("CONFIRMED", "PAID"),
    };
    Some(Bill {
        line_number: line.line_number.clone(),
        billing_month: month.to_string(),
        customer_id: line.customer_id.clone(),
        customer_name: line.customer_name.clone(),
        operator_code: line.operator_code.clone(),
        line_status: line.line_status.clone(),
        product_code: product.product_code.into(),
        product_name: product.product_name.into(),
        monthly_fee: product.monthly_fee,
        usage_fee,
        discount_amount,
        total_fee: product.monthly_fee + usage_fee + device_installment - discount_amount,
        data_usage: format!("{}.{}GB", (h >> 8) % 60, (h >> 16) % 10),
        voice_usage: format!("{}분", (h >> 24) % 400),
        sms_usage: format!("{}건", (h >> 32) % 100),
        bill_status,
        due_date: next.format("%Y%m%d").to_string(),
        discount_info,
        estimated_cancellation_fee: ((h >> 40) % 20) as i64 * 10_000,
        device_installment,
        payment_info: PaymentInfo {
            billing_date: next.format("%Y%m%d").to_string(),
            payment_status,
            payment_method: if h.is_multiple_of(5) {
                "CARD"
            } else {
                "BANK_TRANSFER"
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_ends_two_years_after_it_was_signed() {
        assert_eq!(term_end("2024-03-01"), "2026-03-01");
        assert_eq!(term_end("2024-02-29"), "2026-02-28");
    }

    #[test]
    fn generated_range_is_derived_from_the_number() {
        let a = base_line("01050001234", b"key-one").unwrap();
        let b = base_line("01050001234", b"key-one").unwrap();
        assert_eq!(a.product_code, b.product_code);
        assert_eq!(a.customer_id, b.customer_id);
        assert!(a.customer_id.starts_with('C') && a.customer_id.len() == 17);
        // Another simulator (another key) gives the line another customer id.
        let c = base_line("01050001234", b"key-two").unwrap();
        assert_ne!(a.customer_id, c.customer_id);
        assert!(!a.customer_id.contains("1234"));
        assert!(base_line("01050999999", b"k").is_some());
        assert!(base_line("01051000000", b"k").is_none());
        assert!(base_line("01099999999", b"k").is_none());
    }

    #[test]
    fn bills_are_deterministic_and_only_for_twelve_months() {
        let months = available_months();
        assert_eq!(months.len(), 12);
        let line = base_line("01012345001", b"k").unwrap();
        let a = bill(&line, &months[3], &months).unwrap();
        let b = bill(&line, &months[3], &months).unwrap();
        assert_eq!(a.total_fee, b.total_fee);
        assert_eq!(
            a.total_fee,
            a.monthly_fee + a.usage_fee + a.device_installment - a.discount_amount
        );
        assert!(bill(&line, "199901", &months).is_none());
        assert_eq!(
            bill(&line, &months[0], &months).unwrap().bill_status,
            "UNBILLED"
        );
        for past in &months[1..] {
            assert_eq!(bill(&line, past, &months).unwrap().bill_status, "CONFIRMED");
        }
    }
}
