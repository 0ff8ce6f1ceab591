//! Given-events / when-command / then-events tests of the member aggregate.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kit::aggregate::{given_when, replay};
use proptest::prelude::*;

use super::*;
use crate::domain::questionnaire::Accepted;

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
        refresh: None,
        issued_at: at(i64::from(n)),
    }
}

/// Token `t<n>` with a refresh token, replacing `replaces`.
fn pair(n: u8, replaces: Option<&str>) -> NewToken {
    NewToken {
        refresh: Some(NewRefresh {
            secret_hash: vec![n.wrapping_add(100); 32],
            expires_at: at(90 * 86_400),
        }),
        ..tok(n, replaces, false)
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
    use crate::domain::values::{Email, Phone};
    let contact = match channel {
        Channel::Sms => NewContact::Phone(Phone::parse(value).unwrap()),
        Channel::Email => NewContact::Email(Email::parse(value).unwrap()),
    };
    let (code, limits) = (code(b, now), Limits::default());
    Command::EnterContact {
        contact,
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
    let answer = Answer {
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
    let (member_id, step, completed_at) = (ID.into(), s, now);
    Event::StepCompleted(ev::StepCompleted {
        member_id,
        step,
        completed_at,
    })
}

fn entered(channel: Channel, value: &str) -> Event {
    let value = value.into();
    Event::ContactEntered(ev::ContactEntered { channel, value })
}

fn code_issued(channel: Channel, b: u8, now: At) -> Event {
    Event::ConfirmCodeIssued(ev::ConfirmCodeIssued {
        channel,
        code_mac: mac(b),
        sent_at: now,
        expires_at: now + Duration::minutes(5),
    })
}

fn code_failed(now: At) -> Event {
    let (channel, failed_at) = (SMS, now);
    Event::ConfirmCodeFailed(ev::ConfirmCodeFailed { channel, failed_at })
}

fn token_issued(t: &NewToken) -> Event {
    Event::TokenIssued(ev::TokenIssued {
        token_id: t.token_id.clone(),
        secret_hash: t.secret_hash.clone(),
        expires_at: t.expires_at,
        replaces: t.replaces.clone().unwrap_or_default(),
        limited: t.limited,
        refresh_hash: t
            .refresh
            .as_ref()
            .map(|r| r.secret_hash.clone())
            .unwrap_or_default(),
        refresh_expires_at: t.refresh.as_ref().map(|r| r.expires_at),
        issued_at: Some(t.issued_at),
    })
}

fn password_set(hash: &str) -> Event {
    let password_hash = hash.into();
    Event::PasswordSet(ev::PasswordSet { password_hash })
}

fn contact_confirmed(ch: Channel, value: &str) -> Event {
    let (channel, value) = (ch, value.into());
    Event::ContactConfirmed(ev::ContactConfirmed { channel, value })
}

fn phone_confirmed(masked: &str, now: At) -> Event {
    Event::PhoneConfirmed(ev::PhoneConfirmed {
        member_id: ID.into(),
        phone_masked: masked.into(),
        confirmed_at: now,
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

    /// Opened by card number at 0 s (no phone to prove first), holding `t1`.
    fn opened_by_card() -> Self {
        let mut s = Self::default();
        s.run(&Command::Open {
            member_id: ID.into(),
            kind: LoginKind::Card,
            login: CARD.into(),
            now: at(0),
        });
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

mod codes;
mod lifecycle;
