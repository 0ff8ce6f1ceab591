//! The seed's purchase over HTTP through the real gateway, in front of the
//! real identity, ledger and purchases binaries on a real nats-server:
//! Calculate, Payment, Bonus and Confirm under `/api/v1/` and
//! `/publicapi/v1.2/` give the seed's numbers in the seed's envelope; a
//! refusal is the seed's answer with its code; bad input, a missing key and
//! seed 003's SOAP request are answered as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as ipb;
use serde_json::json;
use tests_e2e::gateway::{Gateway, seed_cheque, step, success, with};
use tests_e2e::purchases::{bonus_balance, member_with_points, pan, world};

const PURCHASE: &str = "/api/v1/Processing/Purchases";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_purchase_over_http_gives_the_seeds_numbers() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let (card, member) = member_with_points(&w, "100").await;

    // Calculate: price 100, till discount 15, amount 85.
    let calc = g
        .post(
            &format!("{PURCHASE}/p-http-1/Calculate"),
            &with(
                step("ef59dc2ada294aa285fdbc1e1e05d377", &card),
                json!({"cheque": seed_cheque("85", "15", "100")}),
            ),
        )
        .await;
    let data = success(&calc);
    assert_eq!(data["availableBonusAmount"], json!(38.25));
    assert_eq!(data["availableAmount"], json!(38.25));
    assert_eq!(data["cheque"]["totalAmount"], json!(76.5));
    assert_eq!(data["cheque"]["totalDiscount"], json!(23.5));
    assert_eq!(data["cheque"]["lines"][0]["discount"], json!(23.5));
    // The numbers are JSON numbers written from exact decimals.
    assert!(
        calc.text.contains("\"availableBonusAmount\":38.25"),
        "{}",
        calc.text
    );

    // Payment of 36.5 points, under the other prefix: held.
    let payment_body = with(
        step("ef59dc2ada294aa285fdb1e1e05d378", &card),
        json!({"cheque": seed_cheque("76.5", "23.5", "100"), "amount": 36.5}),
    );
    let paid = g
        .post(
            "/publicapi/v1.2/Processing/Purchases/p-http-1/Bonus/Payment",
            &payment_body,
        )
        .await;
    let data = success(&paid);
    assert_eq!(
        (data["amount"].clone(), data["bonusAmount"].clone()),
        (json!(36.5), json!(36.5))
    );
    assert_eq!(data["cheque"]["lines"][0]["payAmount"], json!(36.5));
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.held.as_str()), ("63.50", "36.50"));
    // The same step again: the first answer, nothing held twice.
    let again = g
        .post(&format!("{PURCHASE}/p-http-1/Bonus/Payment"), &payment_body)
        .await;
    assert_eq!(again.json, paid.json);
    assert_eq!(bonus_balance(&w, &member).await.held, "36.50");
    // The same operation id with another amount: the seed's code.
    let other = g
        .post(
            &format!("{PURCHASE}/p-http-1/Bonus/Payment"),
            &with(payment_body.clone(), json!({"amount": 1})),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(other.json["data"][0]["code"], "NotUniqueOperationID");
    assert_eq!(other.json["result"]["state"], "Error");

    // Bonus: Card 40 + Loymax 36.5; 10 points per 100 paid in money.
    let bonus = g
        .post(
            &format!("{PURCHASE}/p-http-1/Bonus"),
            &with(
                step("ef59dc2ada294aa285fdb1e1e05d379", &card),
                json!({
                    "cheque": seed_cheque("76.5", "0", "0"),
                    "pays": [
                        {"type": "Card", "amount": 40, "details": "string"},
                        {"type": "Loymax", "amount": 36.5, "details": "string"}
                    ]
                }),
            ),
        )
        .await;
    assert_eq!(success(&bonus)["bonusAmount"], json!(4));

    // Confirm: only the operation id and date, as in the seed.
    let confirmed = g
        .post(
            &format!("{PURCHASE}/p-http-1/Confirm"),
            &json!({"operationId": "ef59dc2ada294aa285fdb1e1e05d380", "operationDate": "2019-04-09T07:24:26.628Z"}),
        )
        .await;
    let data = success(&confirmed);
    assert_eq!(
        (data["paidAmount"].clone(), data["bonusAmount"].clone()),
        (json!(36.5), json!(4))
    );
    let balance = g
        .post(
            "/api/v1/Processing/Balance",
            &json!({"identifier": {"type": "Card", "value": card}}),
        )
        .await;
    assert_eq!(
        balance.json["result"]["state"], "Success",
        "{}",
        balance.text
    );
    assert_eq!(balance.json["data"][0]["type"], "Bonus");
    assert_eq!(balance.json["data"][0]["available"], json!(67.5));

    // A confirmed purchase cannot be paid again: the seed's answer, code
    // in data[0].code, HTTP 200.
    let late = g
        .post(
            &format!("{PURCHASE}/p-http-1/Bonus/Payment"),
            &with(payment_body, json!({"operationId": "late-payment"})),
        )
        .await;
    assert_eq!(late.status, 200, "{}", late.text);
    assert_eq!(late.json["result"]["state"], "Error");
    assert_eq!(late.json["data"][0]["code"], "OperationIsConfirmed");
    assert_eq!(late.json["data"][0]["operationId"], "late-payment");

    // Another partner's device does not reach this purchase: its ids are
    // its own.
    let other = g
        .post_with(
            &format!("{PURCHASE}/p-http-1/Cancel"),
            &json!({"operationId": "other-cancel"}),
            &[("x-api-key", tests_e2e::gateway::OTHER_DEVICE_KEY)],
        )
        .await;
    assert_eq!(
        other.json["data"][0]["code"], "PurchaseNotFound",
        "{}",
        other.text
    );
    assert_eq!(bonus_balance(&w, &member).await.available, "67.50");
    // An operator's key is not a device's.
    let operator = g
        .post_with(
            &format!("{PURCHASE}/p-http-1/Cancel"),
            &json!({"operationId": "operator-cancel"}),
            &[("x-api-key", tests_e2e::gateway::OPERATOR_KEY)],
        )
        .await;
    assert_eq!(operator.status, 403, "{}", operator.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_bad_input_and_credentials_get_the_envelope() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let (card, member) = member_with_points(&w, "10").await;
    let calc = |op: &str| {
        with(
            step(op, &card),
            json!({"cheque": seed_cheque("85", "15", "100")}),
        )
    };

    // Not enough points: the seed's code, nothing held.
    let short = g
        .post(
            &format!("{PURCHASE}/p-http-2/Bonus/Payment"),
            &with(calc("pay-too-much"), json!({"amount": 30})),
        )
        .await;
    assert_eq!(short.status, 200, "{}", short.text);
    assert_eq!(short.json["data"][0]["code"], "NotEnoughMoney");
    assert_eq!(short.json["result"]["state"], "Error");
    assert!(short.json["data"][0]["cashierMessage"].is_string());
    assert_eq!(bonus_balance(&w, &member).await.held, "0.00");

    // An amount that is not a number: a validation error naming the body.
    let bad = g
        .post(
            &format!("{PURCHASE}/p-http-2/Calculate"),
            &with(
                calc("bad-amount"),
                json!({"cheque": {"lines": [{"position": 1, "amount": "abc"}]}}),
            ),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.json["result"]["state"], "ValidationError");
    assert_eq!(
        bad.json["result"]["validationErrors"][0]["field"],
        "cheque.lines[0].amount"
    );
    assert!(
        !bad.text.contains("abc"),
        "the bad value is not echoed: {}",
        bad.text
    );
    // A member is named by their token, never by id in the body.
    let by_id = g
        .post(
            &format!("{PURCHASE}/p-http-2/Calculate"),
            &with(
                calc("by-id"),
                json!({"identifier": {"type": "MemberId", "value": member}}),
            ),
        )
        .await;
    assert_eq!(by_id.status, 400, "{}", by_id.text);
    assert_eq!(
        by_id.json["result"]["validationErrors"][0]["field"],
        "identifier.type"
    );
    // A missing operation id: the service's violation, in the public spelling.
    let mut no_id = calc("x");
    no_id.as_object_mut().unwrap().remove("operationId");
    let missing = g
        .post(&format!("{PURCHASE}/p-http-2/Calculate"), &no_id)
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    let fields: Vec<&str> = missing.json["result"]["validationErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"operationId"), "{fields:?}");

    // No key, a wrong key: 401 in the envelope, nothing reaches purchases.
    for headers in [&[][..], &[("x-api-key", "not-a-key")][..]] {
        let denied = g
            .post_with(
                &format!("{PURCHASE}/p-http-2/Calculate"),
                &calc("no-key"),
                headers,
            )
            .await;
        assert_eq!(denied.status, 401, "{}", denied.text);
        assert_eq!(denied.json["result"]["messageCode"], "Unauthorized");
    }
    // An unknown path, a wrong method: in the envelope.
    let nowhere = g.get("/api/v1/Nowhere").await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.json["result"]["state"], "Error");
    let method = g.get(&format!("{PURCHASE}/p-http-2/Calculate")).await;
    assert_eq!(method.status, 405);
    assert_eq!(method.json["result"]["messageCode"], "MethodNotAllowed");
    // A body beyond the limit: 413, not read.
    let huge = g
        .post_raw(
            &format!("{PURCHASE}/p-http-2/Calculate"),
            "application/json",
            &format!("{{\"operationId\": \"{}\"}}", "x".repeat(300 * 1024)),
            &[("x-api-key", tests_e2e::gateway::DEVICE_KEY)],
        )
        .await;
    assert_eq!(huge.status, 413, "{}", huge.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003s_soap_request_is_answered_in_the_seeds_envelope() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let (card, member) = member_with_points(&w, "20").await;
    let card_pan = pan("427601001386625");
    w.identity
        .members()
        .bind_bank_card(ipb::BindBankCardRequest {
            member_id: member.clone(),
            pan: card_pan.clone(),
        })
        .await
        .unwrap();
    // The e-shop's order: Calculate registers it (38.25 payable).
    let order = "3c52bbe4-777f-49b0-afb8-bb2b6a971f74";
    success(
        &g.post(
            &format!("{PURCHASE}/{order}/Calculate"),
            &with(
                step("order-calc", &card),
                json!({"cheque": seed_cheque("85", "15", "100")}),
            ),
        )
        .await,
    );
    let envelope = format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loy="http://engine.paymentgate.ru/webservices/sbrf/loyalty">
   <soapenv:Header/>
   <soapenv:Body>
      <loy1:getAvailableLoyalty xmlns:loy1="http://engine.paymentgate.ru/webservices/merchant/loyalty">
         <arg0>
            <bindingId> </bindingId>
            <language> </language>
            <orderId>{order}</orderId>
            <pan>{card_pan}</pan>
         </arg0>
      </loy1:getAvailableLoyalty>
   </soapenv:Body>
</soapenv:Envelope>"#
    );
    let key = [("x-api-key", tests_e2e::gateway::DEVICE_KEY)];
    for path in [
        "/api/v1/Processing/getPossibleLoyalty",
        "/webservices/merchant/loyalty",
    ] {
        let soap = g
            .post_raw(path, "text/xml; charset=utf-8", &envelope, &key)
            .await;
        assert_eq!(soap.status, 200, "{}", soap.text);
        assert!(
            soap.content_type.starts_with("text/xml"),
            "{}",
            soap.content_type
        );
        assert_eq!(
            soap.text,
            "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
             <ns1:getAvailableLoyaltyResponse xmlns:ns1=\"http://engine.paymentgate.ru/webservices/merchant/loyalty\">\
             <return errorCode=\"0\"><loyaltyOperations><maxAmount>20</maxAmount><minAmount>0</minAmount>\
             <serviceName>loyalty</serviceName></loyaltyOperations></return>\
             </ns1:getAvailableLoyaltyResponse></soap:Body></soap:Envelope>"
        );
    }
    // The same question as JSON at the same path.
    let json_answer = g
        .post(
            "/api/v1/Processing/getPossibleLoyalty",
            &json!({"orderId": order, "pan": card_pan, "language": "en"}),
        )
        .await;
    assert_eq!(
        json_answer.json["data"]["errorCode"], "0",
        "{}",
        json_answer.text
    );
    assert_eq!(json_answer.json["data"]["maxAmount"], json!(20));
    // Without the key: the seed's "access denied", still its envelope.
    let denied = g
        .post_raw("/webservices/merchant/loyalty", "text/xml", &envelope, &[])
        .await;
    assert!(
        denied.text.contains("<return errorCode=\"5\""),
        "{}",
        denied.text
    );
    // Not the seed's request: a SOAP fault; the PAN never appears in an answer.
    let fault = g
        .post_raw("/webservices/merchant/loyalty", "text/xml", "<x/>", &key)
        .await;
    assert_eq!(fault.status, 500);
    assert!(
        fault.text.contains("<faultcode>soap:Client</faultcode>"),
        "{}",
        fault.text
    );
    assert!(
        !g.process.read_log().contains(&card_pan),
        "the PAN reached the gateway's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_reaches_the_events_of_the_step() {
    use async_nats::jetstream;
    use futures::StreamExt as _;
    const TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let (card, _) = member_with_points(&w, "10").await;
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let calc = g
        .post_with(
            &format!("{PURCHASE}/p-traced/Calculate"),
            &with(
                step("traced-calc", &card),
                json!({"cheque": seed_cheque("85", "15", "100")}),
            ),
            &[
                ("x-api-key", tests_e2e::gateway::DEVICE_KEY),
                ("traceparent", traceparent.as_str()),
            ],
        )
        .await;
    success(&calc);
    let js = jetstream::new(w.nats.client().await.unwrap());
    let stream = tests_e2e::harness::eventually(
        std::time::Duration::from_secs(30),
        "the LOYALTY stream exists",
        || async { js.get_stream("LOYALTY").await.ok() },
    )
    .await;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: "loyalty.purchases.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(30), messages.next())
            .await
            .expect("the step's event on NATS with the caller's trace")
            .unwrap()
            .unwrap();
        let trace = m
            .headers
            .as_ref()
            .and_then(|h| h.get("traceparent"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        if trace.split('-').nth(1) == Some(TRACE_ID) {
            break;
        }
    }
}
