//! Confirm codes: attempts, expiry, cooldown, daily cap, re-verification,
//! and the phone proven before anything is attached.

use super::*;

#[test]
fn wrong_codes_count_down_then_lock_the_code() {
    let mut s = Stream::with_phone_code();
    for i in 0..MAX_CODE_FAILURES {
        let now = at(i64::from(i) + 1);
        let (events, outcome) = s.confirm(SMS, 9, now, None).unwrap();
        assert_eq!(events, [code_failed(now)]);
        let remaining = MAX_CODE_FAILURES - i - 1;
        assert_eq!(outcome, ConfirmOutcome::Wrong { remaining });
    }
    let failures = s.state().phone.code.map(|c| c.failures);
    assert_eq!(failures, Some(MAX_CODE_FAILURES));
    assert_eq!(s.try_code(1, at(10), None), Err(MemberError::CodeLocked));
    assert_eq!(s.try_code(9, at(10), None), Err(MemberError::CodeLocked));
}

#[test]
fn an_expired_code_is_refused() {
    let s = Stream::with_phone_code();
    let expiry = at(5 * 60);
    assert_eq!(s.try_code(1, expiry, None), Err(MemberError::CodeExpired));
    assert_eq!(s.try_code(9, expiry, None), Err(MemberError::CodeExpired));
    let before = s.try_code(1, at(5 * 60 - 1), None);
    assert_eq!(before, Ok(ConfirmOutcome::Confirmed));
}

#[test]
fn a_new_code_resets_the_failures() {
    let locked = || {
        let mut s = Stream::with_phone_code();
        for i in 0..MAX_CODE_FAILURES {
            s.confirm(SMS, 9, at(i.into()), None).unwrap();
        }
        s
    };
    // Resend, after the cooldown.
    let mut s = locked();
    s.run(&resend(SMS, 2, at(60)));
    assert_eq!(s.state().phone.code.map(|c| c.failures), Some(0));
    let (_, old) = s.confirm(SMS, 1, at(61), None).unwrap();
    assert_eq!(old, ConfirmOutcome::Wrong { remaining: 4 });
    assert_eq!(s.try_code(2, at(62), None), Ok(ConfirmOutcome::Confirmed));
    // Entering a contact.
    let mut s = locked();
    s.run(&enter(SMS, OTHER, 3, at(10)));
    let (events, outcome) = s.confirm(SMS, 3, at(11), None).unwrap();
    assert_eq!(outcome, ConfirmOutcome::Confirmed);
    let phone = phone_confirmed("***0001", at(11));
    assert_eq!(events[..2], [contact_confirmed(SMS, OTHER), phone]);
}

#[test]
fn the_cooldown_holds_per_contact() {
    // Resending: see the property below.
    let mut s = Stream::opened_by_card();
    s.run(&enter(SMS, PHONE, 1, at(0)));
    assert_eq!(s.when(&enter(SMS, PHONE, 2, at(59))), Err(cooldown(1)));
    // The other channel, and another number (a mistyped one), are not held.
    let email = s.when(&enter(Channel::Email, EMAIL, 2, at(1)));
    let sent = code_issued(Channel::Email, 2, at(1));
    assert_eq!(email, Ok(vec![entered(Channel::Email, EMAIL), sent]));
    let events = s.run(&enter(SMS, OTHER, 2, at(1)));
    assert_eq!(events, [entered(SMS, OTHER), code_issued(SMS, 2, at(1))]);
    // Back to the first number: another contact than the last one.
    let back = s.when(&enter(SMS, PHONE, 3, at(2)));
    let sent = code_issued(SMS, 3, at(2));
    assert_eq!(back, Ok(vec![entered(SMS, PHONE), sent]));
    assert_eq!(s.when(&enter(SMS, OTHER, 3, at(2))), Err(cooldown(59)));
}

#[test]
fn the_daily_cap_counts_every_code_of_a_channel() {
    let mut s = Stream::opened_by_card();
    for i in 0..Limits::default().daily_codes as u8 {
        let to = if i % 2 == 0 { PHONE } else { OTHER };
        s.run(&enter(SMS, to, i, at(i.into())));
    }
    let day = Duration::hours(24).num_seconds();
    let daily = |retry_after_secs| Err(MemberError::DailyLimit { retry_after_secs });
    let third = "79160000002";
    assert_eq!(s.when(&enter(SMS, third, 50, at(10))), daily(day - 10));
    assert_eq!(s.when(&resend(SMS, 50, at(100))), daily(day - 100));
    // The other channel has its own cap.
    assert!(s.when(&enter(Channel::Email, EMAIL, 50, at(10))).is_ok());
    // The first code leaves the 24 h window.
    assert!(s.when(&enter(SMS, third, 50, at(day))).is_ok());
}

/// What a member attaches after the phone, at `second`: a password (with
/// the token `token`), an e-mail, answers, a physical card.
fn attachments(second: i64, token: NewToken) -> [Command; 4] {
    [
        password("h", at(second), token),
        enter(Channel::Email, EMAIL, 2, at(second)),
        Command::SaveAnswers(accepted(), at(second)),
        card(CARD, CardKind::Physical, at(second)),
    ]
}

#[test]
fn a_registration_by_phone_proves_the_phone_before_anything_is_attached() {
    let mut s = Stream::with_phone_code();
    s.run(&Command::Accept(at(1)));
    let first = Err(MemberError::StepRequired(Step::ChangePhone));
    for c in &attachments(2, rot(2, "t1")) {
        assert_eq!(s.when(c), first, "{c:?}");
    }
    // A virtual card is the system's, not the caller's: it may come first.
    assert!(
        s.when(&card("7770000000000001", CardKind::Virtual, at(2)))
            .is_ok()
    );
    // Once the phone is confirmed, all of it may follow.
    s.confirm(SMS, 1, at(3), Some(&rot(2, "t1"))).unwrap();
    for c in &attachments(4, rot(3, "t2")) {
        assert!(s.when(c).is_ok(), "{c:?}");
    }
}

/// A continued registration: phone confirmed, the caller holds limited `t3`
/// and code 3 was sent to the confirmed phone at 120 s.
fn reverifying() -> Stream {
    let mut s = Stream::with_phone_code();
    s.confirm(SMS, 1, at(1), Some(&rot(2, "t1"))).unwrap();
    s.run(&Command::IssueToken(tok(3, None, true)));
    s.run(&resend(SMS, 3, at(120)));
    s
}

#[test]
fn a_limited_token_reverifies_the_confirmed_phone() {
    let mut s = reverifying();
    // An unlimited token cannot confirm the phone again.
    let plain = s.try_code(3, at(121), Some(&rot(4, "t2")));
    assert_eq!(plain, Err(MemberError::StepAlreadyDone(Step::ChangePhone)));
    let t4 = rot(4, "t3");
    let (events, outcome) = s.confirm(SMS, 3, at(121), Some(&t4)).unwrap();
    assert_eq!(outcome, ConfirmOutcome::Reverified);
    // The code is spent; no public event: the phone was confirmed before.
    assert_eq!(events, [contact_confirmed(SMS, PHONE), token_issued(&t4)]);
    let tokens = s.state().tokens;
    assert!(!tokens.contains_key("t3") && !tokens["t4"].limited);
}

#[test]
fn a_code_used_to_reverify_is_spent() {
    let mut s = reverifying();
    s.confirm(SMS, 3, at(121), Some(&rot(4, "t3"))).unwrap();
    // Another continued registration replays the same code.
    s.run(&Command::IssueToken(tok(5, None, true)));
    let replayed = s.try_code(3, at(122), Some(&rot(6, "t5")));
    assert_eq!(replayed, Err(MemberError::NothingToConfirm));
}

#[test]
fn retrying_after_retry_after_secs_is_allowed() {
    let s = Stream::with_phone_code();
    let first = at(20) + Duration::milliseconds(500);
    // 39.5 s are left: reported as 40, and a retry after 40 s is allowed.
    assert_eq!(s.when(&resend(SMS, 2, first)), Err(cooldown(40)));
    let retry = first + Duration::seconds(40);
    let resent = s.when(&resend(SMS, 2, retry));
    assert_eq!(resent, Ok(vec![code_issued(SMS, 2, retry)]));
}

proptest! {
    #[test]
    fn wrong_codes_never_exceed_the_limit_and_a_locked_code_never_confirms(
        wrong in proptest::collection::vec(2u8..=255, 0..16),
    ) {
        let mut s = Stream::with_phone_code();
        for (i, b) in (0u32..).zip(&wrong) {
            let outcome = s.confirm(SMS, *b, at(i.into()), None).map(|(_, o)| o);
            if i < MAX_CODE_FAILURES {
                let remaining = MAX_CODE_FAILURES - i - 1;
                prop_assert_eq!(outcome, Ok(ConfirmOutcome::Wrong { remaining }));
            } else {
                prop_assert_eq!(outcome, Err(MemberError::CodeLocked));
            }
            let failures = s.state().phone.code.map_or(0, |c| c.failures);
            prop_assert!(failures <= MAX_CODE_FAILURES);
        }
        let right = s.try_code(1, at(20), None);
        if wrong.len() < MAX_CODE_FAILURES as usize {
            prop_assert_eq!(right, Ok(ConfirmOutcome::Confirmed));
        } else {
            prop_assert_eq!(right, Err(MemberError::CodeLocked));
        }
    }

    #[test]
    fn a_code_to_the_same_contact_waits_exactly_the_cooldown(gap in 0i64..180) {
        let s = Stream::with_phone_code();
        let wait = Limits::default().resend_cooldown.num_seconds();
        let resent = s.when(&resend(SMS, 2, at(gap)));
        if gap < wait {
            prop_assert_eq!(resent, Err(cooldown(wait - gap)));
        } else {
            prop_assert_eq!(resent, Ok(vec![code_issued(SMS, 2, at(gap))]));
        }
    }
}
