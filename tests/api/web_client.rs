//! The operator's web client (phonebill-front, unmodified) against phonebill: its exact
//! sequences, with its headers and its shipped `runtime-env.js` (every host, KOS's too, is
//! phonebill's port), from its default origin `http://localhost:3000`.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    ORIGIN,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

const CLIENT_ORIGIN: &str = "http://localhost:3000";

/// A customer id as `RegisterForm.tsx` makes one: the last 6 digits of the time in ms, then
/// 14 random letters and digits.
fn client_customer_id() -> String {
    let ms = chrono::Utc::now().timestamp_millis().to_string();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", &ms[ms.len() - 6..], &random[..14])
}

/// A line no one has: outside the demo lines and the simulator's generated range.
fn fresh_line() -> (String, String) {
    let n = uuid::Uuid::new_v4().as_u128() % 10_000_000;
    let digits = format!("0107{n:07}");
    let dashed = format!("{}-{}-{}", &digits[..3], &digits[3..7], &digits[7..]);
    (digits, dashed)
}

/// The browser's preflight of a JSON POST from the client's origin.
async fn preflight(app: &TestApp, base: &str, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{base}{path}"))
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .unwrap()
}

fn allowed_origin(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn post_from_client(
    app: &TestApp,
    path: &str,
    body: &Value,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header(ORIGIN, CLIENT_ORIGIN)
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[actix_web::test]
async fn the_web_client_registers_creates_its_kos_data_logs_in_and_reads_a_bill() {
    let app = spawn_app().await;
    let customer_id = client_customer_id();
    let (digits, dashed) = fresh_line();

    // 1. Register (the dashed number as typed), before KOS knows the line.
    let res = preflight(&app, &app.address, "/api/v1/auth/register", CLIENT_ORIGIN).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(allowed_origin(&res).as_deref(), Some(CLIENT_ORIGIN));
    let registration = json!({
        "userId": "webuser1", "customerId": customer_id, "lineNumber": dashed,
        "userName": "웹고객", "password": "Web-passw0rd",
        "permissions": ["BILL_INQUIRY", "PRODUCT_CHANGE"],
    });
    let res = post_from_client(&app, "/api/v1/auth/register", &registration, None).await;
    assert_eq!(allowed_origin(&res).as_deref(), Some(CLIENT_ORIGIN));
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );

    // 2. mock-datas from the browser at KOS_MOCK_HOST = phonebill's port, digits only.
    let res = preflight(&app, &app.address, "/api/v1/kos/mock-datas", CLIENT_ORIGIN).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(allowed_origin(&res).as_deref(), Some(CLIENT_ORIGIN));
    let mock = json!({ "customerId": customer_id, "lineNumber": digits });
    let res = post_from_client(&app, "/api/v1/kos/mock-datas", &mock, None).await;
    assert_eq!(allowed_origin(&res).as_deref(), Some(CLIENT_ORIGIN));
    assert_eq!(res.status(), StatusCode::OK);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["resultCode"], "0000", "{created}");
    assert_eq!(created["data"]["customerId"], customer_id.as_str());
    // The button pressed twice: the same customer's line is answered as it is.
    let again: Value = post_from_client(&app, "/api/v1/kos/mock-datas", &mock, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["resultCode"], "0000", "{again}");
    assert_eq!(again["data"], created["data"]);

    // 3. Log in.
    let res = post_from_client(
        &app,
        "/api/v1/auth/login",
        &json!({ "userId": "webuser1", "password": "Web-passw0rd" }),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let login: Value = res.json().await.unwrap();
    assert_eq!(login["customer_id"], customer_id.as_str());
    assert_eq!(login["line_number"], dashed.as_str());
    let token = login["access_token"].as_str().unwrap().to_string();

    // 4. The bill screens: menu, then the default month and a past one.
    let menu: Value = app
        .client
        .get(app.url("/api/v1/bills/menu"))
        .header(ORIGIN, CLIENT_ORIGIN)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        menu["data"]["customerInfo"]["customerId"],
        customer_id.as_str(),
        "{menu}"
    );
    let months: Vec<String> = menu["data"]["availableMonths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().replace('-', ""))
        .collect();
    let res = post_from_client(
        &app,
        "/api/v1/bills/inquiry",
        &json!({ "lineNumber": dashed, "inquiryMonth": months[0] }),
        Some(&token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bill: Value = res.json().await.unwrap();
    assert_eq!(bill["data"]["procStatus"], "COMPLETED", "{bill}");
    assert_eq!(
        bill["data"]["billInfo"]["lineNumber"],
        dashed.as_str(),
        "{bill}"
    );
    assert!(bill["data"]["billInfo"]["totalFee"].is_number(), "{bill}");
    assert_eq!(
        bill["data"]["customerInfo"]["customerId"],
        customer_id.as_str()
    );
    let past: Value = post_from_client(
        &app,
        "/api/v1/bills/inquiry",
        &json!({ "lineNumber": dashed, "inquiryMonth": months[1] }),
        Some(&token),
    )
    .await
    .json()
    .await
    .unwrap();
    // The client shows `CONFIRMED` as 확정.
    assert_eq!(
        past["data"]["billInfo"]["billStatus"], "CONFIRMED",
        "{past}"
    );

    // 5. The product screen: only the line's operator's plans, without `operatorCode`.
    let current = login["user"]["line_number"].clone();
    assert_eq!(current, dashed.as_str());
    let list = offered(&app, "?currentProductCode=LTE-BASIC-001", &token, "KT").await;
    let products = list["data"]["products"].as_array().unwrap();
    assert!(
        products.iter().all(|p| p["productCode"] != "LTE-BASIC-001"),
        "{list}"
    );
}

/// The plans offered to the caller (`query` after `/products/available`): not empty, and
/// all of `operator`.
async fn offered(app: &TestApp, query: &str, token: &str, operator: &str) -> Value {
    let list: Value = app
        .get(&format!("/api/v1/products/available{query}"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    let products = list["data"]["products"].as_array().unwrap();
    assert!(!products.is_empty(), "{list}");
    assert!(
        products.iter().all(|p| p["operatorCode"] == operator),
        "{list}"
    );
    list
}

#[actix_web::test]
async fn mock_datas_refuses_another_customers_line_and_reveals_nothing_of_it() {
    let app = spawn_app().await;
    for line in ["01012345002", "01050000042"] {
        let res = post_from_client(
            &app,
            "/api/v1/kos/mock-datas",
            &json!({ "customerId": client_customer_id(), "lineNumber": line }),
            None,
        )
        .await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let body: Value = res.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
        assert!(body["data"].is_null(), "{body}");
        let text = body.to_string();
        assert!(
            !text.contains("CUST002") && !text.contains("LOAD"),
            "{text}"
        );
    }
    // Bad input is 400, never a line.
    for bad in [
        json!({ "customerId": "", "lineNumber": "01077770000" }),
        json!({ "customerId": "has space", "lineNumber": "01077770000" }),
        json!({ "customerId": "ok", "lineNumber": "0212345678" }),
    ] {
        let res = post_from_client(&app, "/api/v1/kos/mock-datas", &bad, None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[actix_web::test]
async fn a_customer_offered_plans_sees_only_its_operators_without_asking() {
    let app = spawn_app().await;
    // user04 is on LGU; user01 on KT.
    for (user, operator) in [("user04", "LGU"), ("user01", "KT")] {
        let t = app.login(user).await;
        let list = offered(&app, "", &t.access, operator).await;
        assert_eq!(
            list["data"]["totalCount"],
            list["data"]["products"].as_array().unwrap().len(),
            "{user}"
        );
    }
    // An explicit operatorCode still wins.
    let t = app.login("user01").await;
    let list: Value = app
        .get(
            "/api/v1/products/available?operatorCode=LGU",
            Some(&t.access),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["data"]["products"][0]["productCode"], "LGU-5G-001",
        "{list}"
    );
}

#[actix_web::test]
async fn only_the_configured_origin_gets_cors_on_phonebill_and_on_the_simulator() {
    let app = spawn_app().await;
    for base in [app.address.clone(), app.kos_url.clone()] {
        let res = preflight(&app, &base, "/api/v1/kos/mock-datas", CLIENT_ORIGIN).await;
        assert!(res.status().is_success(), "{base}: {}", res.status());
        assert_eq!(
            allowed_origin(&res).as_deref(),
            Some(CLIENT_ORIGIN),
            "{base}"
        );
        // 127.0.0.1:3000 is another origin, refused.
        let res = preflight(
            &app,
            &base,
            "/api/v1/kos/mock-datas",
            "http://127.0.0.1:3000",
        )
        .await;
        assert_eq!(allowed_origin(&res), None, "{base}");
    }
}

/// With a real KOS configured, phonebill's port has no `mock-datas`.
#[actix_web::test]
async fn mock_datas_is_not_on_phonebills_port_when_kos_is_real() {
    let sim = crate::helpers::standalone_simulator();
    let app = crate::helpers::spawn_app_with(|s| {
        s.kos.base_url = sim.clone();
        s.mvno.base_url = sim.clone();
    })
    .await;
    let res = app
        .post_json(
            "/api/v1/kos/mock-datas",
            &json!({ "customerId": "C1", "lineNumber": "01077770001" }),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
