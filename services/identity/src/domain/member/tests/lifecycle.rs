//! Opening, steps, tokens, logins and finishing.

use super::*;

#[test]
fn a_member_opens_once() {
    let events = given_when::<Member>(&[], &open()).unwrap();
    let (member_id, login_kind) = (ID.to_owned(), LoginKind::Phone);
    assert_eq!(
        events,
        vec![
            Event::MemberOpened(ev::MemberOpened {
                member_id: member_id.clone(),
                login_kind,
                login: PHONE.into(),
                opened_at: at(0),
            }),
            Event::RegistrationStarted(ev::RegistrationStarted {
                member_id,
                login_kind,
                login_masked: "***4567".into(),
                started_at: at(0),
            }),
        ]
    );
    let again = given_when::<Member>(&events, &open());
    assert_eq!(again, Err(MemberError::AlreadyOpen));
}

#[test]
fn commands_before_opening_are_not_open() {
    let (now, t1) = (at(0), tok(1, None, false));
    let commands = [
        Command::IssueToken(t1.clone()),
        Command::RevokeToken("t1".into()),
        Command::Accept(now),
        enter(SMS, PHONE, 1, now),
        resend(SMS, 1, now),
        Command::Confirm {
            channel: SMS,
            mac: mac(1),
            now,
            rotate: None,
        },
        password("h", now, t1.clone()),
        Command::SaveAnswers(accepted(), now),
        card(CARD, CardKind::Virtual, now),
        finish(&[], now, t1),
        Command::FailLogin(now),
        Command::SetConsent(true, now),
    ];
    let not_open = Err(MemberError::NotOpen);
    for c in &commands {
        assert_eq!(Stream::default().when(c), not_open, "{c:?}");
    }
}

#[test]
fn each_step_completes_once() {
    let mut s = Stream::with_phone_code();
    let accept = s.run(&Command::Accept(at(1)));
    assert_eq!(accept, vec![step(Step::AcceptTenderOffer, at(1))]);

    let t2 = rot(2, "t1");
    let (events, outcome) = s.confirm(SMS, 1, at(2), Some(&t2)).unwrap();
    assert_eq!(outcome, ConfirmOutcome::Confirmed);
    let (phone, changed) = (
        phone_confirmed("***4567", at(2)),
        step(Step::ChangePhone, at(2)),
    );
    assert_eq!(events[..2], [contact_confirmed(SMS, PHONE), phone]);
    assert_eq!(events[2..], [changed, token_issued(&t2)]);
    assert_eq!(s.state().phone.code, None, "a confirmed code is spent");

    let t3 = rot(3, "t2");
    let events = s.run(&password("h", at(3), t3.clone()));
    let set = [password_set("h"), step(Step::PasswordRequired, at(3))];
    assert_eq!(events[..2], set);
    assert_eq!(events[2..], [token_issued(&t3)]);

    let saved = Event::AnswersSaved(ev::AnswersSaved {
        answers: accepted().answers,
        profile: accepted().profile,
    });
    let events = s.run(&Command::SaveAnswers(accepted(), at(4)));
    assert_eq!(events, [saved, step(Step::Questions, at(4))]);

    let events = s.run(&card(CARD, CardKind::Physical, at(5)));
    let (card_number, kind) = (CARD.to_owned(), CardKind::Physical);
    let (member_id, card_masked) = (ID.to_owned(), "***1085".to_owned());
    let bound = ev::CardBound {
        member_id: member_id.clone(),
        card_masked: card_masked.clone(),
        bound_at: at(5),
    };
    let issued = ev::CardIssued {
        member_id,
        card_masked,
        kind,
        issued_at: at(5),
    };
    let added = ev::MemberCardAdded { card_number, kind };
    let (added, bound) = (Event::MemberCardAdded(added), Event::CardBound(bound));
    assert_eq!(events[..2], [added, bound]);
    let (issued, assigned) = (Event::CardIssued(issued), step(Step::AssignCard, at(5)));
    assert_eq!(events[2..], [issued, assigned]);

    s.run(&enter(Channel::Email, EMAIL, 2, at(6)));
    let (events, outcome) = s.confirm(Channel::Email, 2, at(7), None).unwrap();
    assert_eq!(outcome, ConfirmOutcome::Confirmed);
    let email = Event::EmailConfirmed(ev::EmailConfirmed {
        member_id: ID.into(),
        email_masked: "a***@example.com".into(),
        confirmed_at: at(7),
    });
    let contact = contact_confirmed(Channel::Email, EMAIL);
    assert_eq!(events[..2], [contact, email]);
    assert_eq!(events[2..], [step(Step::ChangeEmail, at(7))]);

    // Before the registration completes, a done step is not done again.
    let now = at(100);
    let again = [
        (Command::Accept(now), Step::AcceptTenderOffer),
        (enter(SMS, OTHER, 3, now), Step::ChangePhone),
        (enter(Channel::Email, EMAIL, 3, now), Step::ChangeEmail),
        (password("h2", now, rot(4, "t3")), Step::PasswordRequired),
        (Command::SaveAnswers(accepted(), now), Step::Questions),
    ];
    for (c, done) in &again {
        assert_eq!(s.when(c), Err(MemberError::StepAlreadyDone(*done)), "{c:?}");
    }
    let repeated = MemberError::StepAlreadyDone(Step::ChangePhone);
    assert_eq!(s.try_code(1, now, None), Err(repeated));
}

#[test]
fn cards_add_up_without_repeating_the_step() {
    let mut s = Stream::opened();
    s.run(&card(CARD, CardKind::Virtual, at(1)));
    // A second card: no second `CardIssued`, no second step.
    let events = s.run(&card("000007", CardKind::Virtual, at(2)));
    let (card_number, kind) = ("000007".to_owned(), CardKind::Virtual);
    let added = Event::MemberCardAdded(ev::MemberCardAdded { card_number, kind });
    let emitted = Event::VirtualCardEmitted(ev::VirtualCardEmitted {
        member_id: ID.into(),
        card_masked: "***0007".into(),
        emitted_at: at(2),
    });
    assert_eq!(events, [added, emitted]);
    assert_eq!(s.when(&card(CARD, CardKind::Virtual, at(3))), Ok(vec![]));
    assert_eq!(s.state().virtual_cards(), 2);
}

#[test]
fn tokens_rotate_revoke_and_stay_capped() {
    let mut s = Stream::opened();
    // Issuing with `replaces` revokes the replaced token.
    let t2 = rot(2, "t1");
    assert_eq!(s.run(&Command::IssueToken(t2.clone())), [token_issued(&t2)]);
    assert_eq!(s.state().tokens.keys().collect::<Vec<_>>(), ["t2"]);
    // Revoking an unknown (here: rotated) token is a no-op.
    assert_eq!(s.when(&Command::RevokeToken("t1".into())), Ok(vec![]));
    let token_id = "t2".to_owned();
    let revoked = Event::TokenRevoked(ev::TokenRevoked { token_id });
    assert_eq!(s.run(&Command::RevokeToken("t2".into())), [revoked]);
    assert!(s.state().tokens.is_empty());
    // At most `MAX_TOKENS` are kept: the oldest are dropped.
    let last = MAX_TOKENS as u8 + 4;
    for n in 3..=last {
        s.run(&Command::IssueToken(tok(n, None, false)));
    }
    let m = s.state();
    assert_eq!((m.tokens.len(), m.tokens_issued), (MAX_TOKENS, last.into()));
    assert!((3..=last).all(|n| m.tokens.contains_key(&format!("t{n}")) == (n > 4)));
}

#[test]
fn a_refreshed_token_is_retired_and_leads_to_its_session() {
    let mut s = Stream::opened();
    let (t2, t3, t4) = (pair(2, None), pair(3, Some("t2")), pair(4, Some("t3")));
    for t in [&t2, &t3, &t4] {
        assert_eq!(s.run(&Command::IssueToken(t.clone())), [token_issued(t)]);
    }
    let m = s.state();
    assert_eq!(m.tokens.keys().collect::<Vec<_>>(), ["t1", "t4"]);
    let retired: Vec<_> = m
        .retired
        .iter()
        .map(|r| (r.token_id.as_str(), r.successor.as_str(), r.at))
        .collect();
    assert_eq!(
        retired,
        [("t2", "t3", Some(at(3))), ("t3", "t4", Some(at(4)))]
    );
    assert_eq!(m.retired[0].refresh_hash, vec![102; 32]);
    // Any retired token of the chain leads to the session's current token.
    assert_eq!(m.current_successor("t2"), Some("t4"));
    assert_eq!(m.current_successor("t3"), Some("t4"));
    assert_eq!(
        m.tokens["t4"].refresh.as_ref().map(|r| r.expires_at),
        Some(at(90 * 86_400))
    );
    // Once the session ends, the chain leads nowhere; a token without a
    // refresh token is replaced without being retired.
    s.run(&Command::RevokeToken("t4".into()));
    assert_eq!(s.state().current_successor("t2"), None);
    s.run(&Command::IssueToken(rot(5, "t1")));
    assert_eq!(s.state().retired.len(), 2);
    // At most `MAX_TOKENS` retired tokens are kept.
    let mut prev = "t5".to_owned();
    for n in 6..(6 + MAX_TOKENS as u8 + 2) {
        s.run(&Command::IssueToken(pair(n, Some(&prev))));
        prev = format!("t{n}");
    }
    assert_eq!(s.state().retired.len(), MAX_TOKENS);
}

#[test]
fn rotating_a_token_not_of_the_member_is_token_invalid() {
    let mut s = Stream::opened_by_card();
    s.run(&enter(SMS, PHONE, 1, at(0)));
    s.run(&Command::Accept(at(1)));
    s.run(&Command::RevokeToken("t1".into()));
    // Another member's token, and the member's own revoked one.
    for foreign in ["m-2/t1", "t1"] {
        let t = rot(2, foreign);
        let commands = [
            Command::IssueToken(t.clone()),
            password("h", at(2), t.clone()),
            finish(&[Step::AcceptTenderOffer], at(2), t.clone()),
        ];
        for c in &commands {
            assert_eq!(s.when(c), Err(MemberError::TokenInvalid), "{c:?}");
        }
        let confirm = s.try_code(1, at(2), Some(&t));
        assert_eq!(confirm, Err(MemberError::TokenInvalid));
    }
}

#[test]
fn wrong_passwords_lock_the_login_for_the_window() {
    let limits = Limits::default();
    let mut s = Stream::registered();
    let failed_at = at(100);
    let failed = Event::LoginFailed(ev::LoginFailed { failed_at });
    assert_eq!(s.run(&Command::FailLogin(at(100))), [failed]);
    for i in 1..limits.login_failures as i64 - 1 {
        s.run(&Command::FailLogin(at(100 + 10 * i)));
    }
    assert_eq!(s.state().login_allowed(at(140), limits), Ok(()));
    s.run(&Command::FailLogin(at(140)));
    let window = limits.login_window.num_seconds();
    let locked = |retry_after_secs| Err(MemberError::LoginLocked { retry_after_secs });
    let m = s.state();
    assert_eq!(m.login_failures.len(), limits.login_failures);
    assert_eq!(m.login_allowed(at(150), limits), locked(100 + window - 150));
    assert_eq!(m.login_allowed(at(100 + window - 1), limits), locked(1));
    // The first failure leaves the window: allowed again.
    assert_eq!(m.login_allowed(at(100 + window), limits), Ok(()));
    // A new password clears the failures.
    s.run(&password("h2", at(200), rot(5, "t4")));
    assert_eq!(s.state().login_allowed(at(200), limits), Ok(()));
}

#[test]
fn finish_names_the_first_open_required_step() {
    let mut s = Stream::with_phone_code();
    s.run(&Command::Accept(at(1)));
    s.confirm(SMS, 1, at(2), None).unwrap();
    let try_finish = |required: &[Step]| s.when(&finish(required, at(3), rot(2, "t1")));
    let open = |step| Err(MemberError::StepRequired(step));
    assert_eq!(try_finish(&REQUIRED), open(Step::PasswordRequired));
    let card_first = [Step::AssignCard, Step::Questions];
    assert_eq!(try_finish(&card_first), open(Step::AssignCard));
    // Optional steps (not required) do not hold the registration.
    assert!(try_finish(&[Step::AcceptTenderOffer, Step::ChangePhone]).is_ok());
}

#[test]
fn finish_with_the_required_steps_done_completes_once() {
    let mut s = Stream::registered();
    let completed = Event::RegistrationCompleted(ev::RegistrationCompleted {
        member_id: ID.into(),
        login_kind: LoginKind::Phone,
        completed_at: at(7),
    });
    let rotated = token_issued(&rot(4, "t3"));
    assert_eq!(s.0[s.0.len() - 2..], [completed, rotated]);
    let again = finish(&[], at(8), rot(5, "t4"));
    assert_eq!(s.when(&again), Err(MemberError::AlreadyRegistered));
    let accept = s.when(&Command::Accept(at(8)));
    assert_eq!(accept, Err(MemberError::AlreadyRegistered));
    // Once registered, profile changes complete no steps.
    let t5 = rot(5, "t4");
    let events = s.run(&password("h2", at(8), t5.clone()));
    assert_eq!(events, [password_set("h2"), token_issued(&t5)]);
}

#[test]
fn replaying_a_full_registration_rebuilds_the_member() {
    let s = Stream::registered();
    let m = s.state();
    assert_eq!((m.id.as_str(), m.login.as_str()), (ID, PHONE));
    assert_eq!(m.login_kind, Some(LoginKind::Phone));
    assert!(m.registered && m.consent);
    assert!(REQUIRED.iter().all(|r| m.is_done(*r)));
    assert_eq!(m.done.len(), REQUIRED.len());
    assert_eq!(m.phone.confirmed.as_deref(), Some(PHONE));
    assert_eq!((&m.phone.pending, &m.phone.code), (&None, &None));
    assert_eq!(m.password_hash.as_deref(), Some("$argon2id$stub"));
    let Accepted { answers, profile } = accepted();
    assert_eq!((m.answers, m.profile), (answers, profile));
    assert_eq!(m.cards, [(CARD.to_owned(), CardKind::Physical)]);
    assert_eq!(m.tokens.keys().collect::<Vec<_>>(), ["t4"]);
    assert_eq!(m.tokens_issued, 4);
}
