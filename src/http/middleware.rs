//! Request context: a request id on every response (`X-Request-Id`, equal to the envelope's
//! `traceId`), a tracing span per request, and one access-log line with status and latency.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;
use uuid::Uuid;

use super::envelope::REQUEST_ID;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a caller's id if it is short and plain, so ids can be followed across services.
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(&X_REQUEST_ID)?.to_str().ok()?;
    let plain = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain.then(|| v.to_string())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = incoming_id(&req).unwrap_or_else(|| Uuid::new_v4().to_string());
    let metrics = req
        .app_data::<actix_web::web::Data<super::AppState>>()
        .map(|s| s.metrics.clone());
    let method = req.method().to_string();
    let started = Instant::now();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = tracing::field::Empty,
        user = tracing::field::Empty,
    );
    let outcome = REQUEST_ID
        .scope(id.clone(), next.call(req))
        .instrument(span.clone())
        .await;
    let mut res = match outcome {
        Ok(res) => res.map_into_boxed_body(),
        // An error that escaped the inner services (CORS refusals) still carries the id.
        Err(inner) => return Err(WithRequestId { inner, id }.into()),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    span.record("route", route.as_str());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if let Some(m) = metrics {
        m.http_duration
            .with_label_values(&[route.as_str(), method.as_str(), &status.to_string()])
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        // A 503 is load shed or a dependency known to be down (counted in /metrics, reason
        // at debug): a warning per request would add to the overload it reports.
        if status >= 500 && status != 503 {
            tracing::warn!(status, latency_ms, "request served");
        } else {
            tracing::info!(status, latency_ms, "request served");
        }
    });
    Ok(res)
}

/// An error from an inner service, answered as that error plus our `X-Request-Id`.
#[derive(Debug)]
struct WithRequestId {
    inner: actix_web::Error,
    id: String,
}

impl std::fmt::Display for WithRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl actix_web::ResponseError for WithRequestId {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse<BoxBody> {
        let mut res = self.inner.error_response();
        if let Ok(v) = HeaderValue::from_str(&self.id) {
            res.headers_mut().insert(X_REQUEST_ID, v);
        }
        res
    }
}
