//! Partner devices over HTTP beyond the seed's purchase: a device's own
//! token (OAuth2 client credentials) and cancelling one operation of a
//! purchase (`…/Operations/{operationId}/Cancel`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use serde_json::json;
use tests_e2e::gateway::{Gateway, seed_cheque, step, success, with};
use tests_e2e::purchases::{bonus_balance, member_with_points, world};

const PURCHASE: &str = "/api/v1/Processing/Purchases";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_operation_cancels_its_purchase_and_an_unknown_one_nothing() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let (card, member) = member_with_points(&w, "100").await;
    let paid = g
        .post(
            &format!("{PURCHASE}/op-cancel-1/Bonus/Payment"),
            &with(
                step("op-pay-1", &card),
                json!({"cheque": seed_cheque("76.5", "23.5", "100"), "amount": 30}),
            ),
        )
        .await;
    success(&paid);
    assert_eq!(bonus_balance(&w, &member).await.held, "30.00");
    let cancel = |target: &str| format!("{PURCHASE}/op-cancel-1/Operations/{target}/Cancel");

    // An operation the purchase has not recorded: refused, nothing moves.
    let unknown = g
        .post(&cancel("op-nobody"), &json!({"operationId": "op-cancel-x"}))
        .await;
    assert_eq!(unknown.status, 200, "{}", unknown.text);
    assert_eq!(unknown.json["result"]["state"], "Error");
    assert_eq!(
        unknown.json["data"][0]["code"], "OperationNotFound",
        "{}",
        unknown.text
    );
    assert_eq!(unknown.json["data"][0]["operationId"], "op-cancel-x");
    assert_eq!(bonus_balance(&w, &member).await.held, "30.00");

    // A time that is no time names its field.
    let bad = g
        .post(
            &cancel("op-pay-1"),
            &json!({"operationId": "op-cancel-y", "operationDate": "2019-04-09 25:00:00"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(
        bad.json["result"]["validationErrors"][0]["field"], "operationDate",
        "{}",
        bad.text
    );

    // The payment (the till's time without a zone, Moscow time as the
    // seeds' clients send it): the purchase is cancelled and its points come
    // back; the same step again gets the same answer.
    let body = json!({"operationId": "op-cancel-1", "operationDate": "2019-04-09 10:30:00"});
    let cancelled = g.post(&cancel("op-pay-1"), &body).await;
    success(&cancelled);
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.held.as_str()), ("100.00", "0.00"));
    let again = g.post(&cancel("op-pay-1"), &body).await;
    assert_eq!(again.json, cancelled.json);
    // The purchase is over: another payment is refused.
    let late = g
        .post(
            &format!("{PURCHASE}/op-cancel-1/Bonus/Payment"),
            &with(
                step("op-pay-2", &card),
                json!({"cheque": seed_cheque("76.5", "23.5", "100"), "amount": 30}),
            ),
        )
        .await;
    assert_eq!(
        late.json["data"][0]["code"], "OperationIsCanceled",
        "{}",
        late.text
    );
    // Another partner's device does not reach the purchase's operations.
    let other = g
        .post_with(
            &cancel("op-pay-1"),
            &json!({"operationId": "op-cancel-other"}),
            &[("x-api-key", tests_e2e::gateway::OTHER_DEVICE_KEY)],
        )
        .await;
    assert_eq!(
        other.json["data"][0]["code"], "PurchaseNotFound",
        "{}",
        other.text
    );
}

/// A device's token (OAuth2's client credentials) in the body of a form.
async fn device_token(g: &Gateway, basic: &str) -> tests_e2e::gateway::Answer {
    let auth = format!("Basic {basic}");
    g.post_raw(
        "/authorizationService/token",
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials",
        &[("authorization", auth.as_str())],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_acts_with_its_client_credentials_token_as_with_its_key() {
    use base64::Engine as _;
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let (card, _) = member_with_points(&w, "10").await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let wrong = device_token(&g, &b64("eshop-1:not-the-key")).await;
    assert_eq!(
        (wrong.status, wrong.json["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let issued = device_token(
        &g,
        &b64(&format!("eshop-1:{}", tests_e2e::gateway::DEVICE_KEY)),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    assert!(issued.json["expires_in"].as_i64().unwrap() > 3000);
    assert!(
        issued.json.get("refresh_token").is_none(),
        "{}",
        issued.text
    );
    let token = format!("Bearer {}", issued.json["access_token"].as_str().unwrap());
    let as_token = [("authorization", token.as_str())];
    let balance = json!({"identifier": {"type": "Card", "value": card}});
    let answer = g
        .post_with("/api/v1/Processing/Balance", &balance, &as_token)
        .await;
    assert_eq!(answer.json["result"]["state"], "Success", "{}", answer.text);
    let by_key = g.post("/api/v1/Processing/Balance", &balance).await;
    assert_eq!(answer.json["data"], by_key.json["data"]);
    // The token is the device's: it opens no operator endpoint, is no
    // member's token, and a changed one opens nothing.
    let operator = g
        .get_with("/api/v1/Certificates/Imports/none", &as_token)
        .await;
    assert_eq!(operator.status, 403, "{}", operator.text);
    let member = g.get_with("/api/v1/User", &as_token).await;
    assert_eq!(member.status, 401, "{}", member.text);
    let forged = format!("{}x", token.trim_end_matches(|c: char| c != '.'));
    let refused = g
        .post_with(
            "/api/v1/Processing/Balance",
            &balance,
            &[("authorization", forged.as_str())],
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text);
}
