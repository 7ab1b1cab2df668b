//! Product change rules (UFR-PROD-030): the pre-check, as pure functions over what KOS says
//! about the line and the catalogue. Every check is reported with its own PASS/FAIL.

use serde::{Deserialize, Serialize};

/// A product code as KOS names them: 1–32 of `A-Z 0-9 -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ProductCode(String);

impl ProductCode {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim();
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err("상품 코드 형식이 올바르지 않습니다")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the pre-check needs to know about a catalogue product.
#[derive(Debug, Clone)]
pub struct CatalogueEntry<'a> {
    pub code: &'a str,
    pub operator: &'a str,
    pub on_sale: bool,
}

/// What the pre-check needs to know about the line, from KOS.
#[derive(Debug, Clone)]
pub struct LineState<'a> {
    pub status: &'a str,
    pub operator: &'a str,
    pub current_product: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckType {
    /// The target product exists and is on sale.
    ProductAvailable,
    /// The target product's operator is the line's operator.
    OperatorMatch,
    /// The line is in use (`ACTIVE`).
    LineStatus,
    /// The target differs from the current product.
    TargetDiffers,
    /// The current product the client sent is the one KOS has.
    CurrentProduct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CheckOutcome {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub check_type: CheckType,
    pub result: CheckOutcome,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValidationResult {
    Success,
    Failure,
}

/// The pre-check's answer, in the shape `POST /products/change/validation` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    pub validation_result: ValidationResult,
    pub validation_details: Vec<Check>,
    pub failure_reason: Option<String>,
}

impl Validation {
    pub fn passed(&self) -> bool {
        self.validation_result == ValidationResult::Success
    }

    /// Whether this failed pre-check would fail whatever KOS says about the line now, so
    /// the change can be refused without asking KOS again: the target is not on sale or is
    /// another operator's (the catalogue and a line's operator do not change under a
    /// change), or the request asks for the product it says is current.
    pub fn fails_whatever_the_line_is(
        &self,
        requested_current: &ProductCode,
        target: &ProductCode,
    ) -> bool {
        if self.passed() {
            return false;
        }
        requested_current == target
            || self.validation_details.iter().any(|c| {
                c.result == CheckOutcome::Fail
                    && matches!(
                        c.check_type,
                        CheckType::ProductAvailable | CheckType::OperatorMatch
                    )
            })
    }
}

fn check(check_type: CheckType, pass: bool, ok: &str, fail: String) -> Check {
    Check {
        check_type,
        result: if pass {
            CheckOutcome::Pass
        } else {
            CheckOutcome::Fail
        },
        message: if pass { ok.to_string() } else { fail },
    }
}

/// Runs every check; the change may go ahead only if all pass.
pub fn precheck(
    line: &LineState<'_>,
    catalogue: &[CatalogueEntry<'_>],
    requested_current: &ProductCode,
    target: &ProductCode,
) -> Validation {
    let product = catalogue.iter().find(|p| p.code == target.as_str());
    let details = vec![
        check(
            CheckType::ProductAvailable,
            product.is_some_and(|p| p.on_sale),
            "판매 중인 상품입니다",
            match product {
                None => format!("존재하지 않는 상품입니다: {}", target.as_str()),
                Some(_) => format!("판매가 종료된 상품입니다: {}", target.as_str()),
            },
        ),
        check(
            CheckType::OperatorMatch,
            product.is_some_and(|p| p.operator == line.operator),
            "회선의 사업자와 상품의 사업자가 일치합니다",
            format!(
                "상품의 사업자({})가 회선의 사업자({})와 다릅니다",
                product.map_or("-", |p| p.operator),
                line.operator
            ),
        ),
        check(
            CheckType::LineStatus,
            line.status == "ACTIVE",
            "사용 중인 회선입니다",
            format!("사용 중이 아닌 회선입니다 (상태: {})", line.status),
        ),
        check(
            CheckType::TargetDiffers,
            target.as_str() != line.current_product,
            "현재 상품과 다른 상품입니다",
            "현재 이용 중인 상품으로는 변경할 수 없습니다".to_string(),
        ),
        check(
            CheckType::CurrentProduct,
            requested_current.as_str() == line.current_product,
            "현재 상품 정보가 일치합니다",
            format!(
                "현재 상품 정보가 최신이 아닙니다 (현재: {})",
                line.current_product
            ),
        ),
    ];
    let failure_reason = details
        .iter()
        .find(|c| c.result == CheckOutcome::Fail)
        .map(|c| c.message.clone());
    Validation {
        validation_result: if failure_reason.is_none() {
            ValidationResult::Success
        } else {
            ValidationResult::Failure
        },
        validation_details: details,
        failure_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_that_need_no_fresh_look_at_the_line() {
        let line = LineState {
            status: "ACTIVE",
            operator: "KT",
            current_product: "5G-PREMIUM-001",
        };
        let code = |c: &str| ProductCode::parse(c).unwrap();
        let (premium, basic) = (code("5G-PREMIUM-001"), code("LTE-BASIC-001"));
        // The request's own current product as target: refused whatever the line is.
        let same = precheck(&line, &CATALOGUE, &basic, &basic);
        assert!(same.fails_whatever_the_line_is(&basic, &basic));
        // Not on sale, another operator's.
        for target in ["3G-OLD-001", "LGU-5G-001", "NO-SUCH-001"] {
            let v = precheck(&line, &CATALOGUE, &premium, &code(target));
            assert!(
                v.fails_whatever_the_line_is(&premium, &code(target)),
                "{target}"
            );
        }
        // A stale current product may be fresh in KOS: ask it.
        let stale = precheck(&line, &CATALOGUE, &basic, &code("5G-PREMIUM-001"));
        assert!(!stale.passed());
        assert!(!stale.fails_whatever_the_line_is(&basic, &premium));
        // A suspended line may be active again.
        let suspended = LineState {
            status: "SUSPENDED",
            ..line
        };
        let v = precheck(&suspended, &CATALOGUE, &premium, &basic);
        assert!(!v.fails_whatever_the_line_is(&premium, &basic));
        assert!(!precheck(&line, &CATALOGUE, &premium, &basic)
            .fails_whatever_the_line_is(&premium, &basic));
    }

    const CATALOGUE: [CatalogueEntry<'static>; 4] = [
        CatalogueEntry {
            code: "5G-PREMIUM-001",
            operator: "KT",
            on_sale: true,
        },
        CatalogueEntry {
            code: "LTE-BASIC-001",
            operator: "KT",
            on_sale: true,
        },
        CatalogueEntry {
            code: "3G-OLD-001",
            operator: "KT",
            on_sale: false,
        },
        CatalogueEntry {
            code: "LGU-5G-001",
            operator: "LGU",
            on_sale: true,
        },
    ];

    fn line(status: &'static str, operator: &'static str) -> LineState<'static> {
        LineState {
            status,
            operator,
            current_product: "LTE-BASIC-001",
        }
    }

    fn run(l: &LineState<'_>, current: &str, target: &str) -> Validation {
        precheck(
            l,
            &CATALOGUE,
            &ProductCode::parse(current).unwrap(),
            &ProductCode::parse(target).unwrap(),
        )
    }

    fn failed(v: &Validation) -> Vec<CheckType> {
        v.validation_details
            .iter()
            .filter(|c| c.result == CheckOutcome::Fail)
            .map(|c| c.check_type)
            .collect()
    }

    #[test]
    fn a_valid_change_passes_every_check() {
        let v = run(&line("ACTIVE", "KT"), "LTE-BASIC-001", "5G-PREMIUM-001");
        assert!(v.passed());
        assert_eq!(v.validation_details.len(), 5);
        assert_eq!(v.failure_reason, None);
    }

    #[test]
    fn each_rule_fails_on_its_own() {
        let cases = [
            (
                line("ACTIVE", "KT"),
                "LTE-BASIC-001",
                "3G-OLD-001",
                vec![CheckType::ProductAvailable],
            ),
            (
                line("ACTIVE", "KT"),
                "LTE-BASIC-001",
                "NOPE-001",
                vec![CheckType::ProductAvailable, CheckType::OperatorMatch],
            ),
            (
                line("ACTIVE", "KT"),
                "LTE-BASIC-001",
                "LGU-5G-001",
                vec![CheckType::OperatorMatch],
            ),
            (
                line("SUSPENDED", "KT"),
                "LTE-BASIC-001",
                "5G-PREMIUM-001",
                vec![CheckType::LineStatus],
            ),
            (
                line("TERMINATED", "KT"),
                "LTE-BASIC-001",
                "5G-PREMIUM-001",
                vec![CheckType::LineStatus],
            ),
            (
                line("ACTIVE", "KT"),
                "LTE-BASIC-001",
                "LTE-BASIC-001",
                vec![CheckType::TargetDiffers],
            ),
            (
                line("ACTIVE", "KT"),
                "5G-PREMIUM-001",
                "5G-PREMIUM-001",
                vec![CheckType::CurrentProduct],
            ),
        ];
        for (l, current, target, expected) in cases {
            let v = run(&l, current, target);
            assert!(!v.passed(), "{current} -> {target}");
            assert_eq!(failed(&v), expected, "{current} -> {target}");
            assert!(v.failure_reason.is_some());
        }
    }

    #[test]
    fn product_codes_are_checked() {
        assert!(ProductCode::parse("5G-PREMIUM-001").is_ok());
        assert!(ProductCode::parse("5g-premium").is_err());
        assert!(ProductCode::parse("").is_err());
        assert!(ProductCode::parse(&"A".repeat(33)).is_err());
    }
}
