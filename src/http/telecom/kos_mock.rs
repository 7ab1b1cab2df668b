//! `POST /api/v1/kos/mock-datas` on phonebill's own port, while the built-in simulator runs
//! (SPEC section 5). The web client creates a new customer's KOS data from the browser at
//! `KOS_MOCK_HOST + /api/v1/kos/mock-datas`, and its shipped `runtime-env.js` points that
//! host at phonebill, as the original API gateway routed it. The built-in simulator's state
//! answers it directly; with a real KOS configured the route is `404`.

use actix_web::{web, HttpResponse};

use crate::actors::telecom::cache::{CacheKey, Invalidate};
use crate::domain::identity::LineNumber;
use crate::domain::telecom::BillingMonth;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::simulator::{mock_data_response, MockData, MockDataRequest, SimState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/kos/mock-datas", web::post().to(mock_datas));
}

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
        let _ = state
            .actors
            .telecom
            .cache
            .ask(&key.name(), Invalidate(key))
            .await;
    }
}
