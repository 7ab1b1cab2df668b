//! Request context: a request id on every response (`X-Request-Id`, equal to the envelope's
//! `traceId`), a tracing span per request, and one access-log line with status and latency.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage as _;
use std::future::Future as _;
use tracing::Instrument as _;

use super::envelope::REQUEST_ID;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `[server] body_timeout_ms`, as app data for [`body_deadline`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// A request's body must arrive whole within [`BodyTimeout`] of its headers: its stream
/// fails with `TimedOut` past the deadline, which the extractors answer `408` (closing the
/// connection, see `error::json_error`).
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    let headers = req.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if let Some(limit) = req.app_data::<BodyTimeout>().copied().filter(|_| has_body) {
        let body = req.take_payload();
        let timed = Deadline {
            body,
            timer: Box::pin(tokio::time::sleep(limit.0)),
        };
        req.set_payload(actix_web::dev::Payload::from(
            Box::pin(timed) as std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>>
        ));
    }
    next.call(req).await
}

struct Deadline {
    body: actix_web::dev::Payload,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl futures_util::Stream for Deadline {
    type Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if let Poll::Ready(item) = std::pin::Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "request body too slow"),
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

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
    let id = incoming_id(&req).unwrap_or_else(|| crate::domain::request_id().to_string());
    let metrics = req
        .app_data::<actix_web::web::Data<super::AppState>>()
        .map(|s| s.metrics.clone());
    let method = method_label(req.method());
    let started = Instant::now();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method,
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
    protect(res.headers_mut());
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
            .with_label_values(&[route.as_str(), method, status_label(status)])
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

/// Headers every answer carries: no content sniffing, and no caching unless the handler
/// chose otherwise (tokens, bills and plans are one customer's: RFC 6749 §5.1 for tokens).
fn protect(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header;
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The method as a metric label: one of a fixed set, so that no client can create label
/// sets (each one is memory kept for ever and text in every scrape) by inventing methods.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The status as a metric label: the codes the service answers, else its class.
fn status_label(status: u16) -> &'static str {
    const KNOWN: [(u16, &str); 19] = [
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (204, "204"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (408, "408"),
        (409, "409"),
        (413, "413"),
        (422, "422"),
        (423, "423"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    match KNOWN.iter().find(|(code, _)| *code == status) {
        Some((_, label)) => label,
        None => match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
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
