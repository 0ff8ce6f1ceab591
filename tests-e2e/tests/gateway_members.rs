//! A member over HTTP through the real gateway, in front of the real
//! identity, ledger and purchases: the seed's registration by phone step by
//! step, login with OAuth2's password grant, the balance and the History
//! with the seed's filter semantics, and the abuse limits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use serde_json::json;
use tests_e2e::gateway::{Gateway, answers_for, bearer, ok};
use tests_e2e::identity::random_phone;
use tests_e2e::purchases::world;

fn form(username: &str, password: &str) -> String {
    format!("grant_type=password&username={username}&password={password}")
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_registers_logs_in_and_reads_balance_and_history_over_http() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let phone = random_phone();
    let password = "Secret-123456";

    // The seed's registration by phone, step by step.
    let begun = g
        .post_with(
            "/api/v1/Registration/BeginRegistration",
            &json!({"login": phone, "password": ""}),
            &[],
        )
        .await;
    let data = ok(&begun);
    assert_eq!(data["state"], "Success");
    let t1 = data["authToken"].as_str().unwrap().to_owned();
    let auth1 = bearer(&t1);
    let h1 = [("authorization", auth1.as_str())];
    let actions = g.get_with("/api/v1/user/actions", &h1).await;
    let steps: Vec<&str> = ok(&actions)["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["userActionType"].as_str().unwrap())
        .collect();
    assert!(
        steps.contains(&"AcceptTenderOffer") && steps.contains(&"ChangePhone"),
        "{steps:?}"
    );
    ok(&g
        .post_with("/api/v1/User/AcceptTenderOffer", &json!({}), &h1)
        .await);
    // The seed writes this path with a trailing slash.
    let masked = g.get_with("/api/v1/User/PhoneNumber/", &h1).await;
    let shown = ok(&masked)["newPhoneNumber"]["phoneNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        shown.ends_with(&phone[phone.len() - 4..]) && !shown.contains(&phone),
        "{shown}"
    );
    let code = w.identity.code_after(notify::Channel::Sms, &phone, 0).await;
    let confirmed = g
        .post_with(
            "/api/v1/User/PhoneNumber/Confirm",
            &json!({"confirmCode": code}),
            &h1,
        )
        .await;
    let t2 = ok(&confirmed)["authToken"].as_str().unwrap().to_owned();
    let auth2 = bearer(&t2);
    let h2 = [("authorization", auth2.as_str())];
    let set = g
        .post_with(
            "/api/v1/User/Password/Set",
            &json!({"password": password}),
            &h2,
        )
        .await;
    let t3 = ok(&set)["authToken"].as_str().unwrap_or(&t2).to_owned();
    let auth3 = bearer(&t3);
    let h3 = [("authorization", auth3.as_str())];
    let questions = g
        .get_with("/api/v1/User/Questions?filter.onlyRequired=true", &h3)
        .await;
    let mut answers = Vec::new();
    answers_for(&ok(&questions)["questions"], &mut answers);
    assert!(!answers.is_empty(), "{}", questions.text);
    ok(&g
        .post_with("/api/v1/User/Answers", &json!({"answers": answers}), &h3)
        .await);
    let emit = g.get_with("/api/v1/Cards/EmitVirtual", &h3).await;
    assert_eq!(ok(&emit)["isVirtualCardEmissionAllowed"], true);
    let card = g.put_with("/api/v1/Cards/EmitVirtual", &h3).await;
    let virtual_card = ok(&card)["cardNumber"].as_str().unwrap().to_owned();
    let finished = g
        .post_with(
            "/api/v1/Registration/TryFinishRegistration",
            &json!({}),
            &h3,
        )
        .await;
    let data = ok(&finished);
    assert_eq!(data["registrationCompleted"], true, "{}", finished.text);
    let t4 = data["authToken"].as_str().unwrap_or(&t3).to_owned();
    let auth4 = bearer(&t4);
    let h4 = [("authorization", auth4.as_str())];
    let user = g.get_with("/api/v1/User", &h4).await;
    assert_eq!(ok(&user)["state"], "Registered", "{}", user.text);
    let cards = g.get_with("/api/v1/Cards", &h4).await;
    assert!(
        ok(&cards)
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["cardNumber"] == virtual_card.as_str() && c["kind"] == "Virtual"),
        "{}",
        cards.text
    );

    // Login with the password grant.
    let login = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            &form(&phone, password),
            &[],
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json["token_type"], "bearer");
    assert!(login.json["expires_in"].as_i64().unwrap() > 0);
    let first = login.json["access_token"].as_str().unwrap().to_owned();
    // The refresh grant: a new pair, the old token dead, and the traded
    // refresh token good for nothing more once its pair is used.
    let refresh = login.json["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
            &[],
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let token = refreshed.json["access_token"].as_str().unwrap().to_owned();
    let next_refresh = refreshed.json["refresh_token"].as_str().unwrap().to_owned();
    assert!(token != first && next_refresh != refresh);
    let old = bearer(&first);
    let dead = g
        .get_with("/api/v1/User", &[("authorization", old.as_str())])
        .await;
    assert_eq!(dead.status, 401, "{}", dead.text);
    let fresh = bearer(&token);
    let alive = g
        .get_with("/api/v1/User", &[("authorization", fresh.as_str())])
        .await;
    assert_eq!(ok(&alive)["state"], "Registered", "{}", alive.text);
    let garbage = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            "grant_type=refresh_token&refresh_token=rt.bm9wZQ.bm9wZQ",
            &[],
        )
        .await;
    assert_eq!(
        (garbage.status, garbage.json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        garbage.text
    );
    let wrong = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            &form(&phone, "wrong-password"),
            &[],
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // An unknown login is refused without opening a registration: no code
    // is sent to it.
    let stranger = random_phone();
    let unknown = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            &form(&stranger, password),
            &[],
        )
        .await;
    assert_eq!(unknown.json["error"], "invalid_grant", "{}", unknown.text);
    assert!(
        w.identity
            .sent_to(notify::Channel::Sms, &stranger)
            .is_empty()
    );
    let grant = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            "grant_type=client_credentials",
            &[],
        )
        .await;
    assert_eq!(grant.json["error"], "invalid_request", "{}", grant.text);
    let grant = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            &format!("grant_type=client_credentials&client_id=eshop-1&client_secret={password}"),
            &[],
        )
        .await;
    assert_eq!(
        (grant.status, grant.json["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let grant = g
        .post_raw(
            "/authorizationService/token",
            FORM,
            "grant_type=implicit",
            &[],
        )
        .await;
    assert_eq!(grant.json["error"], "unsupported_grant_type");

    // Balance and History for the member of the token.
    let member = w
        .identity
        .auth()
        .authenticate(loyalty_proto::identity::v1::AuthenticateRequest {
            token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .member_id;
    tests_e2e::purchases::accrue(&w, &format!("http-welcome-{member}"), &member, "12.5").await;
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    let balance = g.get_with("/publicapi/v1.2/User/Balance", &h).await;
    let bonus = ok(&balance)
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["currency"] == "BONUS")
        .cloned()
        .unwrap();
    assert_eq!(bonus["available"], json!(12.5));
    let detailed = g.get_with("/api/v1/User/DetailedBalance", &h).await;
    let lifetimes = ok(&detailed)
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["currency"] == "BONUS")
        .unwrap()["lifetimes"]
        .clone();
    assert_eq!(lifetimes[0]["amount"], json!(12.5), "{}", detailed.text);
    let to = "2100-01-01T00:00:00Z";
    let history = g
        .get_with(
            &format!("/api/v1.1/History?filter.toDate={to}&filter.count=10"),
            &h,
        )
        .await;
    let data = ok(&history);
    assert_eq!(data["allCount"], 1, "{}", history.text);
    assert_eq!(data["rows"][0]["type"], "RewardData");
    assert_eq!(
        data["rows"][0]["data"]["rewards"][0]["amount"]["amount"],
        json!(12.5)
    );
    // The seed's semantics: only toDate → the count without rows; neither →
    // nothing.
    let count_only = g
        .get_with(&format!("/publicapi/v1.2/History?filter.toDate={to}"), &h)
        .await;
    assert_eq!(ok(&count_only)["allCount"], 1);
    assert_eq!(ok(&count_only)["rows"], json!([]));
    let none = g.get_with("/api/v1.1/History?filter.count=10", &h).await;
    assert_eq!(ok(&none)["rows"], json!([]));
    // A bad date is a validation error; no token, or a token of nobody, 401.
    let bad = g
        .get_with("/api/v1.1/History?filter.toDate=yesterday", &h)
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(g.get_with("/api/v1/User/Balance", &[]).await.status, 401);
    let nobody = g
        .get_with(
            "/api/v1/User/Balance",
            &[("authorization", "Bearer not-a-token")],
        )
        .await;
    assert_eq!(nobody.status, 401, "{}", nobody.text);
    // No secret in the gateway's log.
    let log = g.process.read_log();
    for secret in [password, t1.as_str(), token.as_str(), code.as_str()] {
        assert!(!log.contains(secret), "a secret reached the gateway's log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_attempts_for_one_login_are_slowed_down() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    // An unknown card: each attempt is refused by identity, nothing opened.
    let card = "7000000000000001";
    let mut statuses = Vec::new();
    for _ in 0..(gateway::limits::PER_LOGIN_PER_MINUTE + 1) {
        let a = g
            .post_with(
                "/api/v1/Registration/BeginRegistration",
                &json!({"login": card, "password": ""}),
                &[],
            )
            .await;
        statuses.push(a.status);
        if a.status == 429 {
            assert_eq!(a.json["result"]["messageCode"], "RateLimited");
            assert!(a.retry_after.is_some_and(|s| s >= 1), "{a:?}");
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s != 429),
        "{statuses:?}"
    );
    // The password grant is limited by the same login.
    let login = g
        .post_raw("/authorizationService/token", FORM, &form(card, "x"), &[])
        .await;
    assert_eq!(login.status, 429, "{}", login.text);
    assert_eq!(login.json["error"], "slow_down");
}
