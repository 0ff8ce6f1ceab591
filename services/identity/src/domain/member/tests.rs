//! Given-events / when-command / then-events tests of the member aggregate.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kit::aggregate::{given_when, replay};
use loyalty_proto::identity::v1::UserActionType as Step;
use loyalty_proto::identity::v1::{self as pb, CardKind, Channel, LoginKind};
use proptest::prelude::*;

use super::*;
use crate::domain::questionnaire::Accepted;
use crate::events::Event;

type At = DateTime<Utc>;
type Decided = Result<(Vec<Event>, ConfirmOutcome), MemberError>;
type Outcome = Result<ConfirmOutcome, MemberError>;

const ID: &str = "m-1";
const PHONE: &str = "79161234567";
const OTHER: &str = "79160000001";
const EMAIL: &str = "ann@example.com";
const CARD: &str = "9116580844911085";
const SMS: Channel = Channel::Sms;
const REQUIRED: [Step; 5] = [
    Step::AcceptTenderOffer,
    Step::ChangePhone,
    Step::PasswordRequired,
    Step::Questions,
    Step::AssignCard,
];

/// `secs` seconds after a fixed instant.
fn at(secs: i64) -> At {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap() + Duration::seconds(secs)
}

/// The MAC of a code: codes differ by `b`.
fn mac(b: u8) -> Vec<u8> {
    vec![b; 32]
}

/// Token `t<n>`; later tokens expire later, like the service's.
fn tok(n: u8, replaces: Option<&str>, limited: bool) -> NewToken {
    NewToken {
        token_id: format!("t{n}"),
        secret_hash: vec![n; 32],
        expires_at: at(30 * 86_400 + i64::from(n)),
        replaces: replaces.map(str::to_owned),
        limited,
    }
}

/// Token `t<n>` rotating `replaces`.
fn rot(n: u8, replaces: &str) -> NewToken {
    tok(n, Some(replaces), false)
}

fn open() -> Command {
    let (member_id, login, kind) = (ID.into(), PHONE.into(), LoginKind::Phone);
    Command::Open {
        member_id,
        kind,
        login,
        now: at(0),
    }
}

/// Code `b`, sent at `now`, valid 5 minutes.
fn code(b: u8, now: At) -> NewCode {
    let (mac, expires_at) = (mac(b), now + Duration::minutes(5));
    NewCode { mac, expires_at }
}

fn enter(channel: Channel, value: &str, b: u8, now: At) -> Command {
    let (value, code, limits) = (value.into(), code(b, now), Limits::default());
    Command::EnterContact {
        channel,
        value,
        code,
        now,
        limits,
    }
}

fn resend(channel: Channel, b: u8, now: At) -> Command {
    let code = code(b, now);
    Command::Resend {
        channel,
        code,
        now,
        limits: Limits::default(),
    }
}

fn password(hash: &str, now: At, rotate: NewToken) -> Command {
    let hash = hash.into();
    Command::SetPassword { hash, now, rotate }
}

fn card(number: &str, kind: CardKind, now: At) -> Command {
    let number = number.into();
    Command::AddCard { number, kind, now }
}

fn finish(required: &[Step], now: At, rotate: NewToken) -> Command {
    Command::Finish {
        required: required.to_vec(),
        now,
        rotate,
    }
}

fn accepted() -> Accepted {
    let value = "1990-01-01".to_owned();
    let profile = BTreeMap::from([("birth_date".to_owned(), value.clone())]);
    let answer = pb::Answer {
        id: 7,
        value,
        ..Default::default()
    };
    Accepted {
        answers: vec![answer],
        profile,
    }
}

fn cooldown(retry_after_secs: i64) -> MemberError {
    MemberError::ResendCooldown { retry_after_secs }
}

fn step(s: Step, now: At) -> Event {
    let (member_id, step, completed_at) = (ID.into(), s as i32, ts(now));
    Event::StepCompleted(pb::StepCompleted {
        member_id,
        step,
        completed_at,
    })
}

fn entered(channel: Channel, value: &str) -> Event {
    let (channel, value) = (channel as i32, value.into());
    Event::ContactEntered(pb::ContactEntered { channel, value })
}

fn code_issued(channel: Channel, b: u8, now: At) -> Event {
    Event::ConfirmCodeIssued(pb::ConfirmCodeIssued {
        channel: channel as i32,
        code_mac: mac(b),
        sent_at: ts(now),
        expires_at: ts(now + Duration::minutes(5)),
    })
}

fn code_failed(now: At) -> Event {
    let (channel, failed_at) = (SMS as i32, ts(now));
    Event::ConfirmCodeFailed(pb::ConfirmCodeFailed { channel, failed_at })
}

fn token_issued(t: &NewToken) -> Event {
    Event::TokenIssued(pb::TokenIssued {
        token_id: t.token_id.clone(),
        secret_hash: t.secret_hash.clone(),
        expires_at: ts(t.expires_at),
        replaces: t.replaces.clone().unwrap_or_default(),
        limited: t.limited,
    })
}

fn password_set(hash: &str) -> Event {
    let password_hash = hash.into();
    Event::PasswordSet(pb::PasswordSet { password_hash })
}

fn contact_confirmed(ch: Channel, value: &str) -> Event {
    let (channel, value) = (ch as i32, value.into());
    Event::ContactConfirmed(pb::ContactConfirmed { channel, value })
}

fn phone_confirmed(masked: &str, now: At) -> Event {
    Event::PhoneConfirmed(pb::PhoneConfirmed {
        member_id: ID.into(),
        phone_masked: masked.into(),
        confirmed_at: ts(now),
    })
}

/// A member's stream: the events so far; commands are decided on its replay.
#[derive(Default)]
struct Stream(Vec<Event>);

impl Stream {
    /// Opened by phone at 0 s, holding token `t1`.
    fn opened() -> Self {
        let mut s = Self::default();
        s.run(&open());
        s.run(&Command::IssueToken(tok(1, None, false)));
        s
    }

    /// Opened, and code 1 sent to `PHONE` at 0 s.
    fn with_phone_code() -> Self {
        let mut s = Self::opened();
        s.run(&enter(SMS, PHONE, 1, at(0)));
        s
    }

    /// A completed registration (every step, consent), holding token `t4`.
    fn registered() -> Self {
        let mut s = Self::with_phone_code();
        s.run(&Command::Accept(at(1)));
        s.confirm(SMS, 1, at(2), Some(&rot(2, "t1"))).unwrap();
        s.run(&password("$argon2id$stub", at(3), rot(3, "t2")));
        s.run(&Command::SaveAnswers(accepted(), at(4)));
        s.run(&card(CARD, CardKind::Physical, at(5)));
        s.run(&Command::SetConsent(true, at(6)));
        s.run(&finish(&REQUIRED, at(7), rot(4, "t3")));
        s
    }

    fn state(&self) -> Member {
        replay::<Member>(&self.0)
    }

    fn when(&self, c: &Command) -> Result<Vec<Event>, MemberError> {
        given_when::<Member>(&self.0, c)
    }

    /// Decides `c` (which must succeed) and appends its events.
    fn run(&mut self, c: &Command) -> Vec<Event> {
        let events = self.when(c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        self.0.extend(events.iter().cloned());
        events
    }

    /// `Member::confirm` with code `b`; appends its events when it succeeds.
    fn confirm(&mut self, ch: Channel, b: u8, now: At, rotate: Option<&NewToken>) -> Decided {
        let decided = self.state().confirm(ch, &mac(b), now, rotate)?;
        self.0.extend(decided.0.iter().cloned());
        Ok(decided)
    }

    /// The outcome of entering code `b` by SMS, not recorded.
    fn try_code(&self, b: u8, now: At, rotate: Option<&NewToken>) -> Outcome {
        let decided = self.state().confirm(SMS, &mac(b), now, rotate);
        decided.map(|(_, o)| o)
    }
}

#[test]
fn a_member_opens_once() {
    let events = given_when::<Member>(&[], &open()).unwrap();
    let (member_id, login_kind) = (ID.to_owned(), LoginKind::Phone as i32);
    assert_eq!(
        events,
        vec![
            Event::MemberOpened(pb::MemberOpened {
                member_id: member_id.clone(),
                login_kind,
                login: PHONE.into(),
                opened_at: ts(at(0)),
            }),
            Event::RegistrationStarted(pb::RegistrationStarted {
                member_id,
                login_kind,
                login_masked: "***4567".into(),
                started_at: ts(at(0)),
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

    let saved = Event::AnswersSaved(pb::AnswersSaved {
        answers: accepted().answers,
        profile: accepted().profile.into_iter().collect(),
    });
    let events = s.run(&Command::SaveAnswers(accepted(), at(4)));
    assert_eq!(events, [saved, step(Step::Questions, at(4))]);

    let events = s.run(&card(CARD, CardKind::Physical, at(5)));
    let (card_number, kind) = (CARD.to_owned(), CardKind::Physical as i32);
    let (member_id, card_masked) = (ID.to_owned(), "***1085".to_owned());
    let bound = pb::CardBound {
        member_id: member_id.clone(),
        card_masked: card_masked.clone(),
        bound_at: ts(at(5)),
    };
    let issued = pb::CardIssued {
        member_id,
        card_masked,
        kind,
        issued_at: ts(at(5)),
    };
    let added = pb::MemberCardAdded { card_number, kind };
    let (added, bound) = (Event::MemberCardAdded(added), Event::CardBound(bound));
    assert_eq!(events[..2], [added, bound]);
    let (issued, assigned) = (Event::CardIssued(issued), step(Step::AssignCard, at(5)));
    assert_eq!(events[2..], [issued, assigned]);

    s.run(&enter(Channel::Email, EMAIL, 2, at(6)));
    let (events, outcome) = s.confirm(Channel::Email, 2, at(7), None).unwrap();
    assert_eq!(outcome, ConfirmOutcome::Confirmed);
    let email = Event::EmailConfirmed(pb::EmailConfirmed {
        member_id: ID.into(),
        email_masked: "a***@example.com".into(),
        confirmed_at: ts(at(7)),
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
    let (card_number, kind) = ("000007".to_owned(), CardKind::Virtual as i32);
    let added = Event::MemberCardAdded(pb::MemberCardAdded { card_number, kind });
    let emitted = Event::VirtualCardEmitted(pb::VirtualCardEmitted {
        member_id: ID.into(),
        card_masked: "***0007".into(),
        emitted_at: ts(at(2)),
    });
    assert_eq!(events, [added, emitted]);
    assert_eq!(s.when(&card(CARD, CardKind::Virtual, at(3))), Ok(vec![]));
    assert_eq!(s.state().virtual_cards(), 2);
}

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
    let mut s = Stream::with_phone_code();
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
    let mut s = Stream::opened();
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
    let revoked = Event::TokenRevoked(pb::TokenRevoked { token_id });
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
fn rotating_a_token_not_of_the_member_is_token_invalid() {
    let mut s = Stream::with_phone_code();
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
    let failed_at = ts(at(100));
    let failed = Event::LoginFailed(pb::LoginFailed { failed_at });
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
    let completed = Event::RegistrationCompleted(pb::RegistrationCompleted {
        member_id: ID.into(),
        login_kind: LoginKind::Phone as i32,
        completed_at: ts(at(7)),
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
    assert_eq!(m.login_kind, LoginKind::Phone as i32);
    assert!(m.registered && m.consent);
    assert!(REQUIRED.iter().all(|r| m.is_done(*r)));
    assert_eq!(m.done.len(), REQUIRED.len());
    assert_eq!(m.phone.confirmed.as_deref(), Some(PHONE));
    assert_eq!((&m.phone.pending, &m.phone.code), (&None, &None));
    assert_eq!(m.password_hash.as_deref(), Some("$argon2id$stub"));
    let Accepted { answers, profile } = accepted();
    assert_eq!((m.answers, m.profile), (answers, profile));
    assert_eq!(m.cards, [(CARD.to_owned(), CardKind::Physical as i32)]);
    assert_eq!(m.tokens.keys().collect::<Vec<_>>(), ["t4"]);
    assert_eq!(m.tokens_issued, 4);
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
