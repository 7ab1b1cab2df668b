//! The KOS/MVNO simulator's own contract (SPEC section 5), over HTTP.

use reqwest::Client;
use serde_json::{json, Value};

struct Sim {
    url: String,
    client: Client,
}

fn sim() -> Sim {
    let (port, server) = phonebill::simulator::start("127.0.0.1", 0, 1).unwrap();
    actix_web::rt::spawn(server);
    Sim {
        url: format!("http://127.0.0.1:{port}"),
        client: Client::new(),
    }
}

impl Sim {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.client
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn change(&self, line: &str, target: &str, request_id: &str) -> Value {
        self.post(
            "/api/v1/kos/product/change",
            json!({ "lineNumber": line, "currentProductCode": "x", "targetProductCode": target, "requestId": request_id }),
        )
        .await
    }

    async fn product_of(&self, line: &str) -> String {
        let v = self
            .post("/api/v1/kos/product/inquiry", json!({ "lineNumber": line }))
            .await;
        v["data"]["currentProductCode"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[actix_web::test]
async fn product_changes_stick_and_are_idempotent_per_request_id() {
    let s = sim();
    assert_eq!(s.product_of("010-1234-5001").await, "5G-STANDARD-001");
    let first = s.change("01012345001", "LTE-BASIC-001", "req-1").await;
    assert_eq!(first["resultCode"], "0000");
    assert_eq!(first["data"]["previousProductCode"], "5G-STANDARD-001");
    assert_eq!(s.product_of("01012345001").await, "LTE-BASIC-001");
    // The same request id replays the same answer; nothing changes twice.
    let again = s.change("01012345001", "LTE-BASIC-001", "req-1").await;
    assert_eq!(again, first);
    let stats = s.get("/api/v1/kos/admin/stats").await;
    assert_eq!(stats["product-change"], 2);
}

#[actix_web::test]
async fn product_change_refusals_carry_their_codes() {
    let s = sim();
    assert_eq!(
        s.change("01099999999", "LTE-BASIC-001", "r1").await["resultCode"],
        "2001"
    );
    assert_eq!(
        s.change("01012345003", "LTE-BASIC-001", "r2").await["resultCode"],
        "2002"
    );
    assert_eq!(
        s.change("01012345001", "NOPE-001", "r3").await["resultCode"],
        "2003"
    );
    assert_eq!(
        s.change("01012345001", "3G-OLD-001", "r4").await["resultCode"],
        "2004"
    );
    assert_eq!(
        s.change("01012345004", "5G-PREMIUM-001", "r5").await["resultCode"],
        "2005"
    );
    assert_eq!(s.product_of("01012345004").await, "LGU-5G-001");
}

#[actix_web::test]
async fn bills_cover_twelve_months_and_nothing_else() {
    let s = sim();
    let months = s
        .get("/api/v1/kos/bill/available-months/010-1234-5001")
        .await;
    let months: Vec<String> = months["data"]["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    assert_eq!(months.len(), 12);
    for m in [&months[0], &months[11]] {
        let a = s
            .post(
                "/api/v1/kos/bill/inquiry",
                json!({ "lineNumber": "01012345001", "billingMonth": m, "requestId": "a" }),
            )
            .await;
        let b = s
            .post(
                "/api/v1/kos/bill/inquiry",
                json!({ "lineNumber": "010-1234-5001", "billingMonth": m, "requestId": "b" }),
            )
            .await;
        assert_eq!(a["resultCode"], "0000");
        assert_eq!(a, b, "deterministic");
        assert!(a["data"]["totalFee"].is_i64());
    }
    let old = s
        .post(
            "/api/v1/kos/bill/inquiry",
            json!({ "lineNumber": "01012345001", "billingMonth": "200001", "requestId": "c" }),
        )
        .await;
    assert_eq!(old["resultCode"], "1003");
    let unknown = s
        .post(
            "/api/v1/kos/bill/inquiry",
            json!({ "lineNumber": "01011112222", "billingMonth": &months[0], "requestId": "d" }),
        )
        .await;
    assert_eq!(unknown["resultCode"], "1001");
    let generated = s
        .post(
            "/api/v1/kos/bill/inquiry",
            json!({ "lineNumber": "010-5099-9999", "billingMonth": &months[0], "requestId": "e" }),
        )
        .await;
    assert_eq!(generated["resultCode"], "0000");
    // The customer id is the simulator's secret (keyed), not guessable from the number.
    let id = generated["data"]["customerId"].as_str().unwrap();
    assert!(id.starts_with('C') && !id.contains("9999"), "{id}");
}

#[actix_web::test]
async fn faults_apply_per_endpoint_and_clear() {
    let s = sim();
    let put = |body: Value| {
        let (client, url) = (
            s.client.clone(),
            format!("{}/api/v1/kos/admin/faults", s.url),
        );
        async move { client.put(url).json(&body).send().await.unwrap() }
    };
    assert!(put(json!({ "mode": "down", "endpoint": "product-list" }))
        .await
        .status()
        .is_success());
    let list = s
        .client
        .get(format!("{}/api/v1/kos/product/list", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 503);
    let customer = s
        .post(
            "/api/v1/kos/product/inquiry",
            json!({ "lineNumber": "01012345001" }),
        )
        .await;
    assert_eq!(customer["resultCode"], "0000", "other endpoints unaffected");
    assert!(put(json!({ "mode": "error" })).await.status().is_success());
    let customer = s
        .post(
            "/api/v1/kos/product/inquiry",
            json!({ "lineNumber": "01012345001" }),
        )
        .await;
    assert_eq!(customer["resultCode"], "9999");
    assert!(put(json!({ "mode": "normal", "latencyMs": 0 }))
        .await
        .status()
        .is_success());
    let list = s.get("/api/v1/kos/product/list").await;
    assert_eq!(list["data"]["products"].as_array().unwrap().len(), 6);
    assert_eq!(put(json!({ "failureRate": 1.5 })).await.status(), 400);
    assert_eq!(put(json!({ "mode": "sideways" })).await.status(), 400);

    let reset: Value = s
        .client
        .post(format!("{}/api/v1/kos/admin/stats/reset", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["product-list"], 0);
}

#[actix_web::test]
async fn the_mvno_receiver_lists_what_arrived_and_mock_data_creates_customers() {
    let s = sim();
    s.post("/api/v1/mvno/bill-results", json!({ "eventId": "e1" }))
        .await;
    s.post(
        "/api/v1/mvno/product-change-results",
        json!({ "eventId": "e2" }),
    )
    .await;
    let got = s.get("/api/v1/mvno/admin/received").await;
    assert_eq!(got["count"], 2);
    assert_eq!(got["items"][0]["kind"], "bill-result");
    assert_eq!(got["items"][1]["payload"]["eventId"], "e2");

    let created = s
        .post(
            "/api/v1/kos/mock-datas",
            json!({ "customerId": "C77", "lineNumber": "010-7777-0001" }),
        )
        .await;
    assert_eq!(created["resultCode"], "0000");
    let c = s
        .post(
            "/api/v1/kos/product/inquiry",
            json!({ "lineNumber": "01077770001" }),
        )
        .await;
    assert_eq!(c["data"]["customerId"], "C77");
    assert_eq!(c["data"]["lineStatus"], "ACTIVE");
}
