//! Attacks on ownership: every line-scoped endpoint asked for another user's line, in both
//! line formats, is 403 before any KOS access; another user's request ids are 403 too.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, current_product, other_product, spawn_app};

#[actix_web::test]
async fn every_line_scoped_endpoint_refuses_another_users_line_in_both_formats() {
    let app = spawn_app().await;
    let owner = app.login("user01").await;
    let intruder = app.login("user02").await;
    let month = phonebill::simulator::data::available_months()[0].clone();
    // Things of user01's the intruder could name: a bill inquiry and a product change.
    let res = app
        .post_json(
            "/api/v1/bills/inquiry",
            &json!({ "lineNumber": "01012345001" }),
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let inquiry: Value = res.json().await.unwrap();
    let inquiry_id = inquiry["data"]["requestId"].as_str().unwrap().to_string();
    let current = current_product(&app, &owner.access).await;
    let target = other_product(&current);
    let res = app
        .post_json(
            "/api/v1/products/change",
            &json!({ "lineNumber": "01012345001", "currentProductCode": current, "targetProductCode": target }),
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let change: Value = res.json().await.unwrap();
    let change_id = change["data"]["requestId"].as_str().unwrap().to_string();
    // KOS calls only: the simulator also counts the MVNO notifications, delivered meanwhile.
    let kos_calls = |stats: Value| {
        [
            "bill-inquiry",
            "product-change",
            "product-list",
            "product-inquiry",
        ]
        .map(|e| stats[e].as_u64().unwrap_or(0))
    };
    let kos_before = kos_calls(app.kos_stats().await);

    for line in ["01012345001", "010-1234-5001"] {
        let change_body = json!({
            "lineNumber": line, "currentProductCode": target, "targetProductCode": current,
        });
        let attempts = [
            (
                "POST",
                "/api/v1/bills/inquiry".to_string(),
                json!({ "lineNumber": line, "inquiryMonth": month }),
            ),
            (
                "GET",
                format!("/api/v1/bills/history?lineNumber={line}"),
                Value::Null,
            ),
            (
                "GET",
                format!("/api/v1/products/customer?lineNumber={line}"),
                Value::Null,
            ),
            (
                "POST",
                "/api/v1/products/change/validation".to_string(),
                change_body.clone(),
            ),
            ("POST", "/api/v1/products/change".to_string(), change_body),
            (
                "GET",
                format!("/api/v1/products/history?lineNumber={line}"),
                Value::Null,
            ),
        ];
        for (method, path, body) in attempts {
            let res = if method == "GET" {
                app.get(&path, Some(&intruder.access)).await
            } else {
                app.post_json(&path, &body, Some(&intruder.access)).await
            };
            assert_eq!(
                res.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} ({line})"
            );
            assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
    }
    for path in [
        format!("/api/v1/bills/inquiry/{inquiry_id}"),
        format!("/api/v1/products/change/{change_id}"),
        "/api/v1/users/user01".to_string(),
    ] {
        let res = app.get(&path, Some(&intruder.access)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "GET {path}");
    }
    // None of it reached KOS.
    assert_eq!(kos_calls(app.kos_stats().await), kos_before);
    // The owner still can.
    let res = app
        .get(
            &format!("/api/v1/bills/inquiry/{inquiry_id}"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
