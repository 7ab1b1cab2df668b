//! Coupon campaigns and issued coupons (`store_coupon_campaigns`, `store_coupons`).
//!
//! Issuing is first come, first served, exactly, whatever the number of instances: a batch
//! of claims is one transaction that first locks the campaign row (so issuers of one
//! campaign take turns, on any instance), then — in a statement whose snapshot is taken
//! after the lock, so it sees every coupon an earlier holder of the lock committed — skips
//! the users who already hold one, inserts at most what remains and advances `issued` by
//! the rows actually inserted. `CHECK (issued BETWEEN 0 AND total_quantity)` and
//! `UNIQUE (campaign_id, user_id)` are the database's own guarantee on top.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::domain::identity::UserId;
use crate::domain::store::coupon::{Campaign, CouponCode, CouponStatus, Discount};
use crate::domain::store::points::Points;
use crate::infra::schema::{store_coupon_campaigns as c, store_coupons as s};
use crate::infra::StoreError;

/// `store_coupons.status` of a coupon spent by a paid order.
const USED: &str = "USED";

/// A stored `store_coupons.status` (its `CHECK` lists the same values; `EXPIRED` is never
/// stored, it is read from `expires_at`).
fn status_from_sql(v: &str) -> Result<CouponStatus, StoreError> {
    match v {
        "AVAILABLE" => Ok(CouponStatus::Available),
        "RESERVED" => Ok(CouponStatus::Reserved),
        USED => Ok(CouponStatus::Used),
        other => Err(StoreError::Corrupt(format!("coupon status {other:?}"))),
    }
}

/// `store_coupon_campaigns.discount_type`.
fn discount_sql(d: Discount) -> &'static str {
    match d {
        Discount::Amount(_) => "AMOUNT",
        Discount::Rate { .. } => "RATE",
    }
}

/// A campaign's discount from its `discount_type`, `discount_value` and `max_discount`.
pub fn discount_from_sql(kind: &str, value: i64, max: Option<i64>) -> Option<Discount> {
    match (kind, max) {
        ("AMOUNT", _) => Some(Discount::Amount(Points::new(value))),
        ("RATE", Some(max)) => Some(Discount::Rate {
            percent: value,
            max: Points::new(max),
        }),
        _ => None,
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = c)]
struct CampaignRow {
    campaign_id: i64,
    code: String,
    name: String,
    discount_type: String,
    discount_value: i64,
    max_discount: Option<i64>,
    min_order_amount: i64,
    total_quantity: i32,
    issue_starts_at: DateTime<Utc>,
    issue_ends_at: DateTime<Utc>,
    valid_days: i32,
    eligible_operator: Option<String>,
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;

    fn try_from(r: CampaignRow) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("campaign {}: {what}", r.campaign_id));
        let code = CouponCode::parse(&r.code).map_err(|_| corrupt("code"))?;
        let discount = discount_from_sql(&r.discount_type, r.discount_value, r.max_discount)
            .ok_or_else(|| corrupt("discount"))?;
        Ok(Campaign {
            id: r.campaign_id,
            code,
            name: r.name,
            discount,
            min_order_amount: Points::new(r.min_order_amount),
            total_quantity: r.total_quantity,
            issue_starts_at: r.issue_starts_at,
            issue_ends_at: r.issue_ends_at,
            valid_days: r.valid_days,
            eligible_operator: r.eligible_operator,
        })
    }
}

/// A campaign to create (already validated).
pub struct NewCampaign<'a> {
    pub code: &'a CouponCode,
    pub name: &'a str,
    pub discount: Discount,
    pub min_order_amount: Points,
    pub total_quantity: i32,
    pub issue_starts_at: DateTime<Utc>,
    pub issue_ends_at: DateTime<Utc>,
    pub valid_days: i32,
    pub eligible_operator: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("campaign code taken")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    new: &NewCampaign<'_>,
) -> Result<Campaign, CreateError> {
    let inserted = diesel::insert_into(c::table)
        .values((
            c::code.eq(new.code.as_str()),
            c::name.eq(new.name),
            c::discount_type.eq(discount_sql(new.discount)),
            c::discount_value.eq(new.discount.value()),
            c::max_discount.eq(new.discount.max_discount().map(Points::won)),
            c::min_order_amount.eq(new.min_order_amount.won()),
            c::total_quantity.eq(new.total_quantity),
            c::issue_starts_at.eq(new.issue_starts_at),
            c::issue_ends_at.eq(new.issue_ends_at),
            c::valid_days.eq(new.valid_days),
            c::eligible_operator.eq(new.eligible_operator),
        ))
        .returning(CampaignRow::as_returning())
        .get_result(conn)
        .await;
    match inserted {
        Ok(row) => Ok(Campaign::try_from(row)?),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(CreateError::Taken)
        }
        Err(e) => Err(CreateError::Store(e.into())),
    }
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    code: &CouponCode,
) -> Result<Option<Campaign>, StoreError> {
    c::table
        .filter(c::code.eq(code.as_str()))
        .select(CampaignRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Campaign::try_from)
        .transpose()
}

/// What a campaign has given out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignCounts {
    pub issued: i32,
    pub remaining: i32,
    /// Coupons of it spent by a paid order.
    pub used: i64,
}

pub async fn counts(
    conn: &mut AsyncPgConnection,
    campaign_id: i64,
) -> Result<CampaignCounts, StoreError> {
    let (issued, total): (i32, i32) = c::table
        .find(campaign_id)
        .select((c::issued, c::total_quantity))
        .first(conn)
        .await?;
    let used: i64 = s::table
        .filter(s::campaign_id.eq(campaign_id))
        .filter(s::status.eq(USED))
        .count()
        .get_result(conn)
        .await?;
    Ok(CampaignCounts {
        issued,
        remaining: total - issued,
        used,
    })
}

/// An issued coupon as its holder sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCoupon {
    pub coupon_id: i64,
    pub campaign: Campaign,
    /// As stored (`Expired` is derived by the reader from `expires_at`).
    pub status: CouponStatus,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A coupon row as selected: id, status, issued, expires.
type CouponRow = (i64, String, DateTime<Utc>, DateTime<Utc>);

/// `user`'s coupons with their campaigns, newest first.
pub async fn held_by(
    conn: &mut AsyncPgConnection,
    user: &UserId,
) -> Result<Vec<HeldCoupon>, StoreError> {
    let rows: Vec<(CouponRow, CampaignRow)> = s::table
        .inner_join(c::table)
        .filter(s::user_id.eq(user.as_str()))
        .order(s::coupon_id.desc())
        .select((
            (s::coupon_id, s::status, s::issued_at, s::expires_at),
            CampaignRow::as_select(),
        ))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|((coupon_id, status, issued_at, expires_at), campaign)| {
            Ok(HeldCoupon {
                coupon_id,
                campaign: Campaign::try_from(campaign)?,
                status: status_from_sql(&status)?,
                issued_at,
                expires_at,
            })
        })
        .collect()
}

/// A coupon just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub coupon_id: i64,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a batch did for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    Issued(Issued),
    /// The user held one of this campaign already.
    AlreadyHeld,
    /// None left for them: sold out if the batch's `remaining` is 0, else (a user another
    /// transaction inserted out of turn took their place) worth asking again.
    NotIssued,
}

/// A batch's outcome: one `Issue` per user given, in order, and what remains after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub per_user: Vec<Issue>,
    pub remaining: i32,
}

impl Batch {
    pub fn sold_out(&self) -> bool {
        self.remaining <= 0
    }
}

#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    coupon_id: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    issued_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Integer)]
    remaining: i32,
}

#[derive(QueryableByName)]
struct HolderRow {
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// Issues one coupon of `campaign_id` to each of `users` (distinct) as far as quantity
/// allows, in their order, in one transaction.
pub async fn issue_batch(
    conn: &mut AsyncPgConnection,
    campaign_id: i64,
    users: &[UserId],
) -> Result<Batch, StoreError> {
    let ids: Vec<String> = users.iter().map(|u| u.as_str().to_string()).collect();
    let (issued, held, remaining) = conn
        .transaction::<_, StoreError, _>(async move |conn| {
            // The lock orders every issuer of this campaign; READ COMMITTED gives the next
            // statement a snapshot taken after it, holding all the coupons committed before.
            let (left, valid_days): (i32, i32) = c::table
                .find(campaign_id)
                .select((c::total_quantity - c::issued, c::valid_days))
                .for_update()
                .first(conn)
                .await?;
            if left <= 0 {
                let held: Vec<HolderRow> = diesel::sql_query(
                    "SELECT user_id FROM store_coupons WHERE campaign_id = $1 AND user_id = ANY($2)",
                )
                .bind::<BigInt, _>(campaign_id)
                .bind::<Array<Text>, _>(&ids)
                .load(conn)
                .await?;
                return Ok((Vec::new(), held, 0));
            }
            // ON CONFLICT still guards a coupon inserted out of turn (not under the lock):
            // that user is skipped without counting; whoever the LIMIT left out for them
            // is answered "not issued" with quantity left, and asked again by the caller.
            let rows: Vec<BatchRow> = diesel::sql_query(
                "WITH held AS ( \
                     SELECT user_id FROM store_coupons \
                      WHERE campaign_id = $1 AND user_id = ANY($2)), \
                 fresh AS ( \
                     SELECT u.user_id, u.ord \
                       FROM unnest($2::text[]) WITH ORDINALITY AS u(user_id, ord) \
                      WHERE u.user_id NOT IN (SELECT user_id FROM held) \
                      ORDER BY u.ord LIMIT $3), \
                 ins AS ( \
                     INSERT INTO store_coupons (campaign_id, user_id, expires_at) \
                     SELECT $1, f.user_id, now() + make_interval(days => $4) \
                       FROM fresh f ORDER BY f.ord \
                     ON CONFLICT (campaign_id, user_id) DO NOTHING \
                     RETURNING coupon_id, user_id, issued_at, expires_at), \
                 upd AS ( \
                     UPDATE store_coupon_campaigns \
                        SET issued = issued + (SELECT count(*) FROM ins) \
                      WHERE campaign_id = $1 \
                     RETURNING total_quantity - issued AS remaining) \
                 SELECT 'ISSUED' AS kind, i.user_id::text AS user_id, i.coupon_id, \
                        i.issued_at, i.expires_at, (SELECT remaining FROM upd) AS remaining \
                   FROM ins i \
                 UNION ALL \
                 SELECT 'HELD', h.user_id::text, NULL, NULL, NULL, (SELECT remaining FROM upd) \
                   FROM held h \
                 UNION ALL \
                 SELECT 'REMAINING', '', NULL, NULL, NULL, (SELECT remaining FROM upd)",
            )
            .bind::<BigInt, _>(campaign_id)
            .bind::<Array<Text>, _>(&ids)
            .bind::<BigInt, _>(i64::from(left))
            .bind::<Integer, _>(valid_days)
            .load(conn)
            .await?;
            let mut issued = Vec::new();
            let mut held = Vec::new();
            let mut remaining = None;
            for r in rows {
                match r.kind.as_str() {
                    "ISSUED" => match (r.coupon_id, r.issued_at, r.expires_at) {
                        (Some(coupon_id), Some(issued_at), Some(expires_at)) => issued.push((
                            r.user_id,
                            Issued {
                                coupon_id,
                                issued_at,
                                expires_at,
                            },
                        )),
                        _ => return Err(StoreError::Corrupt("issued coupon row".into())),
                    },
                    "HELD" => held.push(HolderRow { user_id: r.user_id }),
                    _ => remaining = Some(r.remaining),
                }
            }
            let remaining =
                remaining.ok_or_else(|| StoreError::Corrupt("batch without remaining".into()))?;
            Ok((issued, held, remaining))
        })
        .await?;
    let mut issued: HashMap<String, Issued> = issued.into_iter().collect();
    let held: HashSet<String> = held.into_iter().map(|h| h.user_id).collect();
    let per_user = users
        .iter()
        .map(|u| {
            if let Some(i) = issued.remove(u.as_str()) {
                Issue::Issued(i)
            } else if held.contains(u.as_str()) {
                Issue::AlreadyHeld
            } else {
                Issue::NotIssued
            }
        })
        .collect();
    Ok(Batch {
        per_user,
        remaining,
    })
}

/// Every holder of a sold-out campaign (the set can no longer change), if at most `max`.
pub async fn holders(
    conn: &mut AsyncPgConnection,
    campaign_id: i64,
    max: i64,
) -> Result<Option<Vec<String>>, StoreError> {
    let rows: Vec<String> = s::table
        .filter(s::campaign_id.eq(campaign_id))
        .select(s::user_id)
        .limit(max + 1)
        .load(conn)
        .await?;
    Ok((rows.len() as i64 <= max).then_some(rows))
}

/// A demo campaign: code, name, discount, minimum order, quantity, operator.
type DemoCampaign = (
    &'static str,
    &'static str,
    Discount,
    i64,
    i32,
    Option<&'static str>,
);

/// seed-demo's campaigns.
const DEMO_CAMPAIGNS: [DemoCampaign; 3] = [
    (
        "WELCOME",
        "신규 가입 환영 쿠폰",
        Discount::Amount(Points::new(3_000)),
        10_000,
        1_000_000,
        None,
    ),
    (
        "EVENT2025",
        "2025 선착순 이벤트 쿠폰",
        Discount::Rate {
            percent: 10,
            max: Points::new(5_000),
        },
        0,
        100,
        None,
    ),
    (
        "KTONLY",
        "KT 고객 전용 쿠폰",
        Discount::Amount(Points::new(5_000)),
        0,
        1_000_000,
        Some("KT"),
    ),
];

/// Days a demo coupon stays valid after issue.
const DEMO_VALID_DAYS: i32 = 30;

/// seed-demo's campaigns (`WELCOME`, `EVENT2025`, `KTONLY`), created when missing; how many
/// were created. Their window opens a day ago and stays open for ten years.
pub async fn ensure_demo_campaigns(conn: &mut AsyncPgConnection) -> Result<usize, StoreError> {
    let now = Utc::now();
    let mut created = 0;
    for (code, name, discount, min_order, quantity, operator) in DEMO_CAMPAIGNS {
        created += diesel::insert_into(c::table)
            .values((
                c::code.eq(code),
                c::name.eq(name),
                c::discount_type.eq(discount_sql(discount)),
                c::discount_value.eq(discount.value()),
                c::max_discount.eq(discount.max_discount().map(Points::won)),
                c::min_order_amount.eq(min_order),
                c::total_quantity.eq(quantity),
                c::issue_starts_at.eq(now - Duration::days(1)),
                c::issue_ends_at.eq(now + Duration::days(3650)),
                c::valid_days.eq(DEMO_VALID_DAYS),
                c::eligible_operator.eq(operator),
            ))
            .on_conflict(c::code)
            .do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(created)
}
