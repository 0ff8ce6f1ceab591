//! The seed's second registration, by card number, over HTTP through the
//! real gateway in front of the real identity, ledger and purchases: a
//! stocked card begins it (no code sent), the phone is bound with its SMS
//! code, and afterwards the card and the phone both log in with the
//! password grant.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use serde_json::json;
use tests_e2e::gateway::{Gateway, answers_for, bearer, ok};
use tests_e2e::identity::{random_card, random_phone};
use tests_e2e::purchases::world;

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_registers_by_card_number_over_http_and_logs_in_with_card_or_phone() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let card = random_card();
    w.identity.load_cards(&[&card]).await;
    let (phone, password) = (random_phone(), "Card-owner-123");

    let begun = g
        .post_with(
            "/publicapi/v1.2/Registration/BeginRegistration",
            &json!({"login": card, "password": ""}),
            &[],
        )
        .await;
    let data = ok(&begun);
    assert_eq!(data["state"], "Success", "{}", begun.text);
    assert!(
        w.identity.sent().is_empty(),
        "no code is sent for a card login"
    );
    let t0 = bearer(data["authToken"].as_str().unwrap());
    let h0 = [("authorization", t0.as_str())];
    // The login card is the member's from the start.
    let cards = g.get_with("/publicapi/v1.2/Cards", &h0).await;
    let listed: Vec<&str> = ok(&cards)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cardNumber"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&card.as_str()), "{}", cards.text);
    ok(&g
        .post_with("/publicapi/v1.2/User/AcceptTenderOffer", &json!({}), &h0)
        .await);

    // Bind the phone: PhoneNumber, then Confirm with the code from the SMS.
    let set = g
        .post_with(
            "/publicapi/v1.2/User/PhoneNumber",
            &json!({"phoneNumber": format!("+{phone}")}),
            &h0,
        )
        .await;
    ok(&set);
    let code = w.identity.code_after(notify::Channel::Sms, &phone, 0).await;
    let confirmed = g
        .post_with(
            "/publicapi/v1.2/User/PhoneNumber/Confirm",
            &json!({"confirmCode": code}),
            &h0,
        )
        .await;
    let t1 = bearer(ok(&confirmed)["authToken"].as_str().unwrap());
    let h1 = [("authorization", t1.as_str())];
    // The token before the confirmation is rotated away.
    let old = g.get_with("/publicapi/v1.2/User", &h0).await;
    assert_eq!(old.status, 401, "{}", old.text);
    let set = g
        .post_with(
            "/publicapi/v1.2/User/Password/Set",
            &json!({"password": password}),
            &h1,
        )
        .await;
    let t2 = ok(&set)["authToken"].as_str().map_or(t1.clone(), bearer);
    let h2 = [("authorization", t2.as_str())];
    let questions = g
        .get_with(
            "/publicapi/v1.2/User/Questions?filter.onlyRequired=true",
            &h2,
        )
        .await;
    let mut answers = Vec::new();
    answers_for(&ok(&questions)["questions"], &mut answers);
    ok(&g
        .post_with(
            "/publicapi/v1.2/User/Answers",
            &json!({"answers": answers}),
            &h2,
        )
        .await);
    let finished = g
        .post_with(
            "/publicapi/v1.2/Registration/TryFinishRegistration",
            &json!({}),
            &h2,
        )
        .await;
    assert_eq!(
        ok(&finished)["registrationCompleted"],
        true,
        "{}",
        finished.text
    );

    // The card and the phone both log in, to the same member.
    let mut members = Vec::new();
    for login in [card.as_str(), phone.as_str()] {
        let token = g
            .post_raw(
                "/authorizationService/token",
                FORM,
                &format!("grant_type=password&username={login}&password={password}"),
                &[],
            )
            .await;
        assert_eq!(token.status, 200, "{login}: {}", token.text);
        let auth = bearer(token.json["access_token"].as_str().unwrap());
        let user = g
            .get_with("/publicapi/v1.2/User", &[("authorization", auth.as_str())])
            .await;
        assert_eq!(ok(&user)["state"], "Registered", "{}", user.text);
        members.push(user.json["data"].clone());
    }
    assert_eq!(members[0], members[1]);
    let phone_shown = members[0]["phoneNumber"].as_str().unwrap_or_default();
    assert!(
        phone_shown.ends_with(&phone[phone.len() - 4..]),
        "{}",
        members[0]
    );
}
