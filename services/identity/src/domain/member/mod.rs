//! The member aggregate (stream `member/<id>`): the registration session
//! and, once registered, the member's contacts, secrets' hashes, tokens,
//! cards and links. Pure: secrets arrive hashed, time arrives as `now`.

mod command;
mod decide;

pub use command::{
    Command, ConfirmOutcome, Limits, MAX_CODE_FAILURES, MAX_TOKENS, MemberError, NewCode,
    NewContact, NewRefresh, NewToken,
};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq;

use super::event::{self as ev, Event};
use super::model::{Answer, CardKind, Channel, LoginKind, Step};
use super::values::mask_tail;

/// A confirm code awaiting entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Code {
    /// Its MAC.
    pub mac: Vec<u8>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Wrong attempts so far.
    pub failures: u32,
}

/// A phone or e-mail contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// Awaiting confirmation.
    pub pending: Option<String>,
    /// Confirmed.
    pub confirmed: Option<String>,
    /// The last code sent.
    pub code: Option<Code>,
    /// When codes were sent (last 24 h matter).
    pub sends: Vec<DateTime<Utc>>,
}

impl Contact {
    /// The contact a code is for: the pending one, else the confirmed one.
    pub fn target(&self) -> Option<&str> {
        self.pending.as_deref().or(self.confirmed.as_deref())
    }
}

/// An active token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Re-confirm the phone only.
    pub limited: bool,
    /// Its refresh token, if it has one.
    pub refresh: Option<Refresh>,
}

/// A refresh token, kept as the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// A token replaced by a refresh: its refresh token must not work again,
/// and if it is presented again the session it led to is ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// The replaced token's id.
    pub token_id: String,
    /// SHA-256 of its refresh token's secret.
    pub refresh_hash: Vec<u8>,
    /// The token that replaced it.
    pub successor: String,
    /// When it was replaced (`None`: before this was recorded).
    pub at: Option<DateTime<Utc>>,
}

/// The member's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Member {
    /// Member id (empty: not opened).
    pub id: String,
    /// Phone or card (`None`: not opened).
    pub login_kind: Option<LoginKind>,
    /// The login.
    pub login: String,
    /// Registration completed.
    pub registered: bool,
    /// Steps done.
    pub done: BTreeSet<Step>,
    /// Phone.
    pub phone: Contact,
    /// E-mail.
    pub email: Contact,
    /// argon2id hash.
    pub password_hash: Option<String>,
    /// Recent wrong passwords.
    pub login_failures: Vec<DateTime<Utc>>,
    /// Active tokens by id.
    pub tokens: BTreeMap<String, Token>,
    /// Tokens issued so far (for token ids).
    pub tokens_issued: u64,
    /// The last tokens replaced by a refresh (at most `MAX_TOKENS`).
    pub retired: Vec<Retired>,
    /// Questionnaire answers.
    pub answers: Vec<Answer>,
    /// Answers by logical name.
    pub profile: BTreeMap<String, String>,
    /// Cards: (number, kind).
    pub cards: Vec<(String, CardKind)>,
    /// Mailing consent.
    pub consent: bool,
    /// Social accounts: (network, user id).
    pub social: Vec<(String, String)>,
    /// Bank cards: (binding id, last 4).
    pub bank_cards: Vec<(String, String)>,
}

/// Whole seconds to wait, rounded up (a client retrying after that many
/// seconds is not refused again), at least 1.
fn ceil_secs(wait: Duration) -> i64 {
    ((wait.num_milliseconds() + 999) / 1000).max(1)
}

pub(super) fn token_event(t: &NewToken) -> Event {
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

impl Member {
    /// Whether the step is done.
    pub fn is_done(&self, step: Step) -> bool {
        self.done.contains(&step)
    }

    /// The contact of a channel.
    pub fn contact(&self, channel: Channel) -> &Contact {
        match channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.phone,
        }
    }

    /// Virtual cards the member has.
    pub fn virtual_cards(&self) -> usize {
        self.cards
            .iter()
            .filter(|(_, k)| *k == CardKind::Virtual)
            .count()
    }

    /// The step a channel's confirmation completes.
    fn step_of(channel: Channel) -> Step {
        match channel {
            Channel::Email => Step::ChangeEmail,
            Channel::Sms => Step::ChangePhone,
        }
    }

    fn open(&self) -> Result<(), MemberError> {
        if self.id.is_empty() {
            Err(MemberError::NotOpen)
        } else {
            Ok(())
        }
    }

    /// A step may be done: registration open and the step not done yet.
    fn step_open(&self, step: Step) -> Result<(), MemberError> {
        self.open()?;
        if !self.registered && self.is_done(step) {
            return Err(MemberError::StepAlreadyDone(step));
        }
        Ok(())
    }

    /// A registration that began with a phone number proves the phone
    /// before anything is attached to it (a password, an e-mail, answers, a
    /// physical card): otherwise whoever types someone else's number could
    /// lock its owner out with a password, or plant their own e-mail and card
    /// in the account the owner later completes.
    pub fn phone_proven(&self) -> Result<(), MemberError> {
        if !self.registered
            && self.login_kind == Some(LoginKind::Phone)
            && self.phone.confirmed.is_none()
        {
            return Err(MemberError::StepRequired(Step::ChangePhone));
        }
        Ok(())
    }

    /// The token a retired token's session has now: its successor, or the
    /// successor's successor, ... (`None`: the session has ended).
    pub fn current_successor<'a>(&'a self, token_id: &'a str) -> Option<&'a str> {
        let mut id = token_id;
        // Every step follows a later replacement, so at most `retired.len()`.
        for _ in 0..=self.retired.len() {
            if self.tokens.contains_key(id) {
                return Some(id);
            }
            id = &self.retired.iter().find(|r| r.token_id == id)?.successor;
        }
        None
    }

    fn check_rotation(&self, rotate: &NewToken) -> Result<(), MemberError> {
        match &rotate.replaces {
            Some(id) if !self.tokens.contains_key(id) => Err(MemberError::TokenInvalid),
            _ => Ok(()),
        }
    }

    /// Whether a code may be sent to `to` on the channel of `c` now. The
    /// cooldown is per contact: the last code went to `c.target()`, and a
    /// mistyped number or address must be re-enterable at once (the seed's
    /// "Повторный ввод"). The daily cap counts every code of the channel, so
    /// alternating contacts cannot flood.
    fn check_send(
        &self,
        c: &Contact,
        to: &str,
        now: DateTime<Utc>,
        limits: Limits,
    ) -> Result<(), MemberError> {
        if c.target() == Some(to)
            && let Some(last) = c.sends.last()
        {
            let wait = *last + limits.resend_cooldown - now;
            if wait > Duration::zero() {
                return Err(MemberError::ResendCooldown {
                    retry_after_secs: ceil_secs(wait),
                });
            }
        }
        let day: Vec<_> = c
            .sends
            .iter()
            .filter(|t| now - **t < Duration::hours(24))
            .collect();
        if day.len() >= limits.daily_codes {
            let wait = *day[0] + Duration::hours(24) - now;
            return Err(MemberError::DailyLimit {
                retry_after_secs: ceil_secs(wait),
            });
        }
        Ok(())
    }

    /// Checks a login: `Err(LoginLocked)` while too many wrong passwords
    /// were given within the window.
    pub fn login_allowed(&self, now: DateTime<Utc>, limits: Limits) -> Result<(), MemberError> {
        let recent: Vec<_> = self
            .login_failures
            .iter()
            .filter(|t| now - **t < limits.login_window)
            .collect();
        if recent.len() >= limits.login_failures {
            let wait = *recent[recent.len() - limits.login_failures] + limits.login_window - now;
            return Err(MemberError::LoginLocked {
                retry_after_secs: ceil_secs(wait),
            });
        }
        Ok(())
    }

    /// Decides a confirm attempt (the outcome says what happened; a wrong
    /// code is recorded, so the refusal counts).
    pub fn confirm(
        &self,
        channel: Channel,
        mac: &[u8],
        now: DateTime<Utc>,
        rotate: Option<&NewToken>,
    ) -> Result<(Vec<Event>, ConfirmOutcome), MemberError> {
        self.open()?;
        let contact = self.contact(channel);
        let reverify = rotate.is_some_and(|r| {
            r.replaces
                .as_ref()
                .and_then(|id| self.tokens.get(id))
                .is_some_and(|t| t.limited)
        });
        if !reverify {
            self.step_open(Self::step_of(channel))?;
        }
        let (Some(target), Some(code)) = (contact.target(), contact.code.as_ref()) else {
            return Err(MemberError::NothingToConfirm);
        };
        if let Some(r) = rotate {
            self.check_rotation(r)?;
        }
        if code.failures >= MAX_CODE_FAILURES {
            return Err(MemberError::CodeLocked);
        }
        if code.expires_at.is_none_or(|e| now >= e) {
            return Err(MemberError::CodeExpired);
        }
        if !bool::from(code.mac.as_slice().ct_eq(mac)) {
            let failed = Event::ConfirmCodeFailed(ev::ConfirmCodeFailed {
                channel,
                failed_at: now,
            });
            let remaining = MAX_CODE_FAILURES - code.failures - 1;
            return Ok((vec![failed], ConfirmOutcome::Wrong { remaining }));
        }
        let mut events = Vec::new();
        // Confirming (again) spends the code.
        events.push(Event::ContactConfirmed(ev::ContactConfirmed {
            channel,
            value: target.to_owned(),
        }));
        let outcome = if reverify {
            ConfirmOutcome::Reverified
        } else {
            events.push(if channel == Channel::Email {
                Event::EmailConfirmed(ev::EmailConfirmed {
                    member_id: self.id.clone(),
                    email_masked: super::values::Email::parse(target)
                        .map(|e| e.masked())
                        .unwrap_or_else(|_| mask_tail(target)),
                    confirmed_at: now,
                })
            } else {
                Event::PhoneConfirmed(ev::PhoneConfirmed {
                    member_id: self.id.clone(),
                    phone_masked: mask_tail(target),
                    confirmed_at: now,
                })
            });
            if !self.registered && !self.is_done(Self::step_of(channel)) {
                events.push(self.step(Self::step_of(channel), now));
            }
            ConfirmOutcome::Confirmed
        };
        if let Some(r) = rotate {
            events.push(token_event(r));
        }
        Ok((events, outcome))
    }

    fn step(&self, step: Step, now: DateTime<Utc>) -> Event {
        Event::StepCompleted(ev::StepCompleted {
            member_id: self.id.clone(),
            step,
            completed_at: now,
        })
    }

    fn code_event(channel: Channel, code: &NewCode, now: DateTime<Utc>) -> Event {
        Event::ConfirmCodeIssued(ev::ConfirmCodeIssued {
            channel,
            code_mac: code.mac.clone(),
            sent_at: now,
            expires_at: code.expires_at,
        })
    }
}

impl Member {
    pub(super) fn contact_mut(&mut self, channel: Channel) -> &mut Contact {
        match channel {
            Channel::Email => &mut self.email,
            Channel::Sms => &mut self.phone,
        }
    }
}

#[cfg(test)]
mod tests;
