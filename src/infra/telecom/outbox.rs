//! The MVNO outbox: notifications written durably by producers and delivered at least once.
//! Several instances share it: a round leases due rows with `FOR UPDATE SKIP LOCKED`, so no
//! two instances deliver the same row at once, and a lease that runs out (crash) frees it.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Int4, Integer, Jsonb, Text, Varchar};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::infra::db::Prepared;
use crate::infra::StoreError;

/// Kinds of notification, as the MVNO AP server's endpoints name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BillResult,
    ProductChangeResult,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BillResult => "bill-result",
            Kind::ProductChangeResult => "product-change-result",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bill-result" => Some(Kind::BillResult),
            "product-change-result" => Some(Kind::ProductChangeResult),
            _ => None,
        }
    }

    /// Path of the MVNO AP endpoint receiving this kind.
    pub fn path(self) -> &'static str {
        match self {
            Kind::BillResult => "/api/v1/mvno/bill-results",
            Kind::ProductChangeResult => "/api/v1/mvno/product-change-results",
        }
    }
}

/// A notification to store (its payload as a JSON value).
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub kind: String,
    pub event_id: String,
    pub payload: Value,
}

impl NewNotification {
    pub fn new(kind: Kind, event_id: impl Into<String>, payload: Value) -> Self {
        Self {
            kind: kind.as_str().into(),
            event_id: event_id.into(),
            payload,
        }
    }
}

/// A notification as it is inserted: the payload already JSON text (the history writer has
/// it so, serialized once with the answer).
pub struct OutboxRow<'a> {
    pub kind: &'a str,
    pub event_id: &'a str,
    pub payload: &'a str,
}

/// A notification of the bill-result stream whose delivery failed, kept in the outbox: to
/// be retried after `retry_in_ms`, or (`set_aside`) refused for good by the MVNO AP.
pub struct Failed<'a> {
    pub kind: &'a str,
    pub event_id: &'a str,
    pub payload: String,
    pub attempts: i32,
    pub retry_in_ms: i64,
    pub error: &'a str,
    pub set_aside: bool,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Leased {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Varchar)]
    pub kind: String,
    #[diesel(sql_type = Varchar)]
    pub event_id: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: Value,
    #[diesel(sql_type = Int4)]
    pub attempts: i32,
}

/// Stores notifications; an event already stored is not stored twice. Returns how many
/// were new.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    rows: &[NewNotification],
) -> Result<usize, StoreError> {
    let payloads: Vec<String> = rows.iter().map(|n| n.payload.to_string()).collect();
    let rows: Vec<OutboxRow<'_>> = rows
        .iter()
        .zip(&payloads)
        .map(|(n, payload)| OutboxRow {
            kind: &n.kind,
            event_id: &n.event_id,
            payload,
        })
        .collect();
    insert(conn, &rows).await
}

/// The one insert into the outbox: a statement per call whatever the number of rows (the
/// columns go over as arrays); events already stored are skipped. Returns how many were new.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    rows: &[OutboxRow<'_>],
) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    Ok(diesel::sql_query(
        "INSERT INTO mvno_outbox (kind, event_id, payload) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[]::jsonb[]) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.kind).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.payload).collect::<Vec<_>>())
    .execute(conn)
    .await?)
}

/// Keeps failed stream notifications (one statement); an event already kept is skipped.
pub async fn insert_failed(
    conn: &mut AsyncPgConnection,
    rows: &[Failed<'_>],
) -> Result<usize, StoreError> {
    use diesel::sql_types::Bool;
    if rows.is_empty() {
        return Ok(0);
    }
    Ok(Prepared(
        diesel::sql_query(
            "INSERT INTO mvno_outbox (kind, event_id, payload, attempts, next_attempt_at, \
                    last_error, set_aside_at) \
             SELECT k, e, p::jsonb, a, now() + make_interval(secs => r::double precision / 1000), \
                    err, CASE WHEN aside THEN now() END \
               FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], \
                           $6::text[], $7::bool[]) AS f(k, e, p, a, r, err, aside) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.payload.as_str()).collect::<Vec<_>>())
        .bind::<Array<Int4>, _>(rows.iter().map(|r| r.attempts).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.retry_in_ms).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.error).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(rows.iter().map(|r| r.set_aside).collect::<Vec<_>>()),
    )
    .execute(conn)
    .await?)
}

/// Sets a notification aside: the MVNO AP refused it for good; it is kept and counted, and
/// never leased again by itself.
pub async fn set_aside(
    conn: &mut AsyncPgConnection,
    id: i64,
    error: &str,
) -> Result<(), StoreError> {
    diesel::sql_query(
        "UPDATE mvno_outbox SET leased_until = NULL, last_error = $2, set_aside_at = now() \
         WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Leases up to `limit` due notifications for `lease_s` seconds, counting the attempt.
pub async fn lease_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease_s: f64,
) -> Result<Vec<Leased>, StoreError> {
    Ok(diesel::sql_query(
        "UPDATE mvno_outbox SET leased_until = now() + make_interval(secs => $1), \
                attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM mvno_outbox \
                      WHERE delivered_at IS NULL AND set_aside_at IS NULL \
                        AND next_attempt_at <= now() \
                        AND (leased_until IS NULL OR leased_until < now()) \
                      ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id, kind, event_id, payload, attempts",
    )
    .bind::<Double, _>(lease_s)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}

pub async fn mark_delivered(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "UPDATE mvno_outbox SET delivered_at = now(), leased_until = NULL, last_error = NULL \
         WHERE id = ANY($1)",
    )
    .bind::<Array<BigInt>, _>(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Schedules another attempt after `delay_ms`.
pub async fn retry_later(
    conn: &mut AsyncPgConnection,
    id: i64,
    delay_ms: i64,
    error: &str,
) -> Result<(), StoreError> {
    diesel::sql_query(
        "UPDATE mvno_outbox SET leased_until = NULL, last_error = $3, \
                next_attempt_at = now() + make_interval(secs => $2::double precision / 1000) \
         WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .bind::<BigInt, _>(delay_ms)
    .bind::<Text, _>(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Vacuums the outbox: reclaims the dead row versions every lease and delivery leaves, so
/// the next leases need not step over them. Skipped while another session vacuums it.
pub async fn vacuum(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    diesel::sql_query("VACUUM (SKIP_LOCKED) mvno_outbox")
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes delivered notifications older than `days`.
pub async fn purge_delivered(conn: &mut AsyncPgConnection, days: i32) -> Result<usize, StoreError> {
    Ok(diesel::sql_query(
        "DELETE FROM mvno_outbox WHERE delivered_at < now() - make_interval(days => $1)",
    )
    .bind::<Integer, _>(days)
    .execute(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lag {
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    /// Age of the oldest undelivered notification, seconds.
    #[diesel(sql_type = Double)]
    pub oldest_pending_s: f64,
    /// Notifications the MVNO AP refused for good, kept aside.
    #[diesel(sql_type = BigInt)]
    pub set_aside: i64,
}

/// The outbox's backlog (rows waiting for a retry or a first delivery) and what was set aside.
pub async fn lag(conn: &mut AsyncPgConnection) -> Result<Lag, StoreError> {
    Ok(diesel::sql_query(
        "SELECT count(*) FILTER (WHERE set_aside_at IS NULL) AS pending, \
                COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) \
                    FILTER (WHERE set_aside_at IS NULL))::double precision, 0) AS oldest_pending_s, \
                count(*) FILTER (WHERE set_aside_at IS NOT NULL) AS set_aside \
         FROM mvno_outbox WHERE delivered_at IS NULL",
    )
    .get_result(conn)
    .await?)
}

/// The HTTP client of MVNO deliveries (start-up: a client that cannot be built is an error,
/// not a default without the configured time-outs).
pub fn mvno_client(settings: &crate::settings::MvnoSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(settings.timeout_ms))
        .connect_timeout(std::time::Duration::from_millis(
            settings.timeout_ms.min(1000),
        ))
        .build()
}
