//! `POST /api/v1/kos/mock-datas` on phonebill's own port, while the built-in simulator runs
//! (SPEC section 5). The web client creates a new customer's KOS data from the browser at
//! `KOS_MOCK_HOST + /api/v1/kos/mock-datas`, and its shipped `runtime-env.js` points that
//! host at phonebill, as the original API gateway routed it. The built-in simulator's state
//! answers it directly; with a real KOS configured the route is `404`.

use actix_web::{web, HttpResponse};

use crate::actors::telecom::cache::{self, CacheKey};
use crate::domain::identity::LineNumber;
use crate::domain::telecom::BillingMonth;
use crate::http::envelope::ErrorEnvelope;
use crate::http::error::{described, ApiError};
use crate::http::AppState;
use crate::simulator::{mock_data_response, MockData, MockDataAnswer, MockDataRequest, SimState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/kos/mock-datas", web::post().to(mock_datas));
}

#[utoipa::path(
    post,
    path = "/api/v1/kos/mock-datas",
    tag = "kos",
    summary = "Create a new customer's KOS data (line, default product, 12 months of bills) in the built-in simulator, as the web client's register page does; only while the built-in simulator stands in for KOS (else 404). A line that exists for the same customer is answered as it is; for another customer 409",
    request_body = MockDataRequest,
    responses(
        (status = 200, description = described::SUCCESS, body = MockDataAnswer),
        (status = 400, description = "Invalid customerId or lineNumber (KOS's shape; a malformed body gets the error envelope)", body = MockDataAnswer),
        (status = 404, description = "No built-in simulator (a real KOS is configured)", body = ErrorEnvelope),
        (status = 409, description = "The line is another customer's", body = MockDataAnswer),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = "The simulator is full, or back-pressure (the error envelope)", body = MockDataAnswer),
    )
)]
async fn mock_datas(
    state: web::Data<AppState>,
    simulator: Option<web::Data<SimState>>,
    body: web::Json<MockDataRequest>,
) -> Result<HttpResponse, ApiError> {
    let Some(simulator) = simulator else {
        return Err(ApiError::NotFound("built-in KOS simulator"));
    };
    let outcome = simulator.create_customer(&body.customer_id, &body.line_number);
    if let MockData::Created(line) = &outcome {
        // A registration may have asked KOS about the line before it existed: drop the
        // (briefly cached) refusals, on every instance.
        if let Ok(line) = LineNumber::parse(&line.line_number) {
            forget_line(&state, &line).await;
        }
    }
    Ok(mock_data_response(&outcome))
}

async fn forget_line(state: &AppState, line: &LineNumber) {
    let months = BillingMonth::selectable(chrono::Utc::now(), state.tz);
    let keys =
        std::iter::once(CacheKey::Customer(line.clone())).chain(months.into_iter().map(|month| {
            CacheKey::Bill {
                line: line.clone(),
                month,
            }
        }));
    for key in keys {
        cache::invalidate(&state.actors.telecom.cache, key).await;
    }
}
