//! Self-registration's KOS rule (UFR-AUTH-010, SPEC section 3): the web client registers
//! first, with a customer id it generated, and only then asks KOS to create the customer's
//! data. So a line KOS does not know yet may be registered (while the operator allows it),
//! but a line KOS holds for a different customer never may.

use super::CustomerId;

/// What KOS answered about the line being registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineInKos<'a> {
    /// KOS holds the line for this customer id.
    HeldBy(&'a str),
    /// KOS does not know the line (result `1001`/`2001`).
    Unknown,
    /// KOS refused the line for another reason (its code).
    Refused(&'a str),
}

impl<'a> LineInKos<'a> {
    /// Reads a KOS refusal code of the customer look-up.
    pub fn from_refusal(code: &'a str) -> Self {
        match code {
            "1001" | "2001" => LineInKos::Unknown,
            other => LineInKos::Refused(other),
        }
    }
}

/// Why KOS's answer refuses a registration (each a `400` naming `lineNumber`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRefusal {
    /// KOS holds the line for a different customer.
    SomeoneElses,
    /// KOS does not know the line and `[auth] allow_unknown_lines` is off.
    Unknown,
    /// KOS refused the line.
    Unusable,
}

impl LineRefusal {
    pub fn message(self) -> &'static str {
        match self {
            LineRefusal::SomeoneElses => "다른 고객의 회선은 등록할 수 없습니다",
            LineRefusal::Unknown => "통신사에 등록되지 않은 회선입니다",
            LineRefusal::Unusable => "통신사에서 확인할 수 없는 회선입니다",
        }
    }
}

/// Whether a customer may register a line, given what KOS holds for it.
pub fn check_line(
    kos: LineInKos<'_>,
    customer: &CustomerId,
    allow_unknown_lines: bool,
) -> Result<(), LineRefusal> {
    match kos {
        LineInKos::HeldBy(holder) if holder == customer.as_str() => Ok(()),
        LineInKos::HeldBy(_) => Err(LineRefusal::SomeoneElses),
        LineInKos::Unknown if allow_unknown_lines => Ok(()),
        LineInKos::Unknown => Err(LineRefusal::Unknown),
        LineInKos::Refused(_) => Err(LineRefusal::Unusable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str) -> CustomerId {
        CustomerId::parse(id).unwrap()
    }

    #[test]
    fn the_holder_registers_its_own_line_whatever_the_setting() {
        for allow in [true, false] {
            assert_eq!(
                check_line(LineInKos::HeldBy("CUST001"), &customer("CUST001"), allow),
                Ok(())
            );
        }
    }

    #[test]
    fn a_line_held_for_someone_else_is_never_registered() {
        for allow in [true, false] {
            assert_eq!(
                check_line(LineInKos::HeldBy("CUST001"), &customer("RANDOM0001"), allow),
                Err(LineRefusal::SomeoneElses)
            );
        }
    }

    #[test]
    fn an_unknown_line_is_accepted_only_while_allowed() {
        let c = customer("RANDOM0001");
        assert_eq!(
            check_line(LineInKos::from_refusal("1001"), &c, true),
            Ok(())
        );
        assert_eq!(
            check_line(LineInKos::from_refusal("2001"), &c, true),
            Ok(())
        );
        assert_eq!(
            check_line(LineInKos::from_refusal("1001"), &c, false),
            Err(LineRefusal::Unknown)
        );
    }

    #[test]
    fn other_refusals_are_refused_even_when_unknown_lines_are_allowed() {
        assert_eq!(
            check_line(LineInKos::from_refusal("1002"), &customer("C1"), true),
            Err(LineRefusal::Unusable)
        );
    }
}
