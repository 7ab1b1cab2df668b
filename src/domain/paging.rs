//! Paging and date-range rules of the history endpoints.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::FieldError;

/// An inclusive range of dates, either end open.
pub type DateRange = (Option<NaiveDate>, Option<NaiveDate>);

/// A validated page request (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub size: u32,
}

impl PageRequest {
    /// `page` ≥ 1; `size` 1…`max_size`; absent values take the defaults.
    pub fn parse(
        page: Option<u32>,
        size: Option<u32>,
        default_size: u32,
        max_size: u32,
    ) -> Result<Self, FieldError> {
        let page = page.unwrap_or(1);
        let size = size.unwrap_or(default_size);
        if page == 0 {
            return Err(FieldError::new("page", "page는 1 이상이어야 합니다"));
        }
        if size == 0 || size > max_size {
            return Err(FieldError::new(
                "size",
                format!("size는 1~{max_size} 사이여야 합니다"),
            ));
        }
        Ok(Self { page, size })
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.size)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub current_page: u32,
    pub total_pages: u32,
    pub total_items: u64,
    pub page_size: u32,
    pub has_next: bool,
    pub has_previous: bool,
}

impl Pagination {
    pub fn new(req: PageRequest, total_items: u64) -> Self {
        let total_pages = total_items.div_ceil(u64::from(req.size)) as u32;
        Self {
            current_page: req.page,
            total_pages,
            total_items,
            page_size: req.size,
            has_next: req.page < total_pages,
            has_previous: req.page > 1,
        }
    }
}

/// An inclusive date range; `start` ≤ `end` and, when `max_back` is given, `start` no
/// earlier than `today - max_back`.
pub fn date_range(
    start: Option<&str>,
    end: Option<&str>,
    today: NaiveDate,
    max_back: Option<Duration>,
) -> Result<DateRange, FieldError> {
    let parse = |field: &'static str, v: Option<&str>| -> Result<Option<NaiveDate>, FieldError> {
        v.filter(|s| !s.is_empty())
            .map(|s| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .or_else(|_| NaiveDate::parse_from_str(s, "%Y%m%d"))
                    .map_err(|_| FieldError::new(field, "날짜는 YYYY-MM-DD 형식이어야 합니다"))
            })
            .transpose()
    };
    let start = parse("startDate", start)?;
    let end = parse("endDate", end)?;
    // chrono accepts years far beyond any history; such dates would overflow date sums.
    for (field, d) in [("startDate", start), ("endDate", end)] {
        if d.is_some_and(|d| !(1900..=2999).contains(&chrono::Datelike::year(&d))) {
            return Err(FieldError::new(field, "날짜 범위를 벗어났습니다"));
        }
    }
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(FieldError::new(
                "startDate",
                "시작일은 종료일보다 늦을 수 없습니다",
            ));
        }
    }
    if let (Some(s), Some(back)) = (start, max_back) {
        if s < today - back {
            return Err(FieldError::new(
                "startDate",
                format!("조회 시작일은 최근 {} 이내여야 합니다", span(back)),
            ));
        }
    }
    Ok((start, end))
}

/// A look-back span as the messages say it: whole years (a leap day aside) or days.
fn span(back: Duration) -> String {
    let days = back.num_days();
    if days >= 365 && days % 365 <= 1 {
        format!("{}년", days / 365)
    } else {
        format!("{days}일")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_rules() {
        assert_eq!(
            PageRequest::parse(None, None, 20, 100).unwrap(),
            PageRequest { page: 1, size: 20 }
        );
        assert!(PageRequest::parse(Some(0), None, 20, 100).is_err());
        assert!(PageRequest::parse(None, Some(101), 20, 100).is_err());
        assert_eq!(
            PageRequest::parse(Some(3), Some(10), 20, 100)
                .unwrap()
                .offset(),
            20
        );
    }

    #[test]
    fn pagination_counts_pages() {
        let p = Pagination::new(PageRequest { page: 2, size: 10 }, 25);
        assert_eq!((p.total_pages, p.has_next, p.has_previous), (3, true, true));
        let p = Pagination::new(PageRequest { page: 1, size: 10 }, 0);
        assert_eq!(
            (p.total_pages, p.has_next, p.has_previous),
            (0, false, false)
        );
    }

    #[test]
    fn date_ranges() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        assert!(date_range(Some("2026-11-01"), Some("2026-11-21"), today, None).is_ok());
        assert!(date_range(Some("2026-11-22"), Some("2026-11-21"), today, None).is_err());
        assert!(date_range(Some("11/01/2026"), None, today, None).is_err());
        let two_years = Some(Duration::days(731));
        assert!(date_range(Some("2024-11-21"), None, today, two_years).is_ok());
        assert_eq!(
            date_range(Some("2023-11-01"), None, today, two_years)
                .unwrap_err()
                .message,
            "조회 시작일은 최근 2년 이내여야 합니다"
        );
        let ninety = Some(Duration::days(90));
        assert_eq!(
            date_range(Some("2026-01-01"), None, today, ninety)
                .unwrap_err()
                .message,
            "조회 시작일은 최근 90일 이내여야 합니다"
        );
    }
}
