//! The member aggregate (stream `member/<id>`): the registration session
//! and, once registered, the member's contacts, secrets' hashes, tokens,
//! cards and links. Pure: secrets arrive hashed, time arrives as `now`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use kit::aggregate::Aggregate;
use loyalty_proto::identity::v1::{
    self as pb, CardKind, Channel, LoginKind, UserActionType as Step,
};
use subtle::ConstantTimeEq;

use super::questionnaire::Accepted;
use super::values::mask_tail;
use crate::events::Event;

/// Wrong confirm codes allowed per code; the next attempt is refused even
/// with the right code.
pub const MAX_CODE_FAILURES: u32 = 5;
/// Active tokens kept per member (older sessions are dropped).
pub const MAX_TOKENS: usize = 10;

/// Limits on sending codes and on logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Minimum time between two codes to one contact.
    pub resend_cooldown: Duration,
    /// Codes per channel (SMS, e-mail) per 24 hours, whatever the contact.
    pub daily_codes: usize,
    /// Wrong passwords allowed within `login_window`.
    pub login_failures: usize,
    /// The window (and lock time) for wrong passwords.
    pub login_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            resend_cooldown: Duration::seconds(60),
            daily_codes: 10,
            login_failures: 5,
            login_window: Duration::minutes(15),
        }
    }
}

/// A confirm code to record (its MAC, never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// HMAC of the code bound to member, channel and contact.
    pub mac: Vec<u8>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// A token to record (the SHA-256 of its secret, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Public id.
    pub token_id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The token it replaces (rotation).
    pub replaces: Option<String>,
    /// May only re-confirm the phone.
    pub limited: bool,
}

/// Commands on a member.
#[derive(Debug, Clone)]
pub enum Command {
    /// Opens a registration for a login.
    Open {
        /// New member id.
        member_id: String,
        /// Phone or card.
        kind: LoginKind,
        /// The normalised login.
        login: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Issues (or rotates) a token.
    IssueToken(NewToken),
    /// Revokes a token.
    RevokeToken(String),
    /// Accepts the offer.
    Accept(DateTime<Utc>),
    /// Enters a contact and records the code sent to it.
    EnterContact {
        /// SMS (phone) or e-mail.
        channel: Channel,
        /// The normalised contact.
        value: String,
        /// The code sent.
        code: NewCode,
        /// Now.
        now: DateTime<Utc>,
        /// Send limits.
        limits: Limits,
    },
    /// Records a new code for the contact awaiting confirmation (or, to
    /// re-verify a continued registration, for the confirmed phone).
    Resend {
        /// SMS or e-mail.
        channel: Channel,
        /// The code sent.
        code: NewCode,
        /// Now.
        now: DateTime<Utc>,
        /// Send limits.
        limits: Limits,
    },
    /// Checks a code; rotates the token on success.
    Confirm {
        /// SMS or e-mail.
        channel: Channel,
        /// HMAC of the code entered, computed like the sent one's.
        mac: Vec<u8>,
        /// Now.
        now: DateTime<Utc>,
        /// The token replacing the caller's (SMS only).
        rotate: Option<NewToken>,
    },
    /// Sets the password; rotates the token.
    SetPassword {
        /// argon2id PHC string.
        hash: String,
        /// Now.
        now: DateTime<Utc>,
        /// The token replacing the caller's.
        rotate: NewToken,
    },
    /// Saves validated answers.
    SaveAnswers(Accepted, DateTime<Utc>),
    /// Attaches a card (already assigned to this member on its own stream).
    AddCard {
        /// Full number.
        number: String,
        /// Physical or virtual.
        kind: CardKind,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Completes the registration.
    Finish {
        /// Steps that must be done.
        required: Vec<Step>,
        /// Now.
        now: DateTime<Utc>,
        /// The token replacing the caller's.
        rotate: NewToken,
    },
    /// Records a wrong password.
    FailLogin(DateTime<Utc>),
    /// Records the mailing consent.
    SetConsent(bool, DateTime<Utc>),
    /// Links a social account (already claimed on its own stream).
    LinkSocial {
        /// Network.
        network: String,
        /// User id there.
        external_user_id: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Records a bank card binding (already claimed on its own stream).
    AddBankCard {
        /// Binding id.
        binding_id: String,
        /// Last 4 digits.
        last4: String,
        /// Now.
        now: DateTime<Utc>,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    /// No such member.
    #[error("no such member")]
    NotOpen,
    /// The member stream already exists.
    #[error("member already exists")]
    AlreadyOpen,
    /// The step was completed before (the seed's protocol error).
    #[error("step {} is already done", .0.as_str_name())]
    StepAlreadyDone(Step),
    /// A required step is still open.
    #[error("step {} is required first", .0.as_str_name())]
    StepRequired(Step),
    /// The registration is complete.
    #[error("the registration is already completed")]
    AlreadyRegistered,
    /// Nothing awaits confirmation on the channel.
    #[error("nothing awaits confirmation")]
    NothingToConfirm,
    /// The code expired.
    #[error("the confirm code has expired")]
    CodeExpired,
    /// Too many wrong codes: a new code is needed.
    #[error("too many wrong confirm codes; request a new code")]
    CodeLocked,
    /// A code was sent too recently.
    #[error("a code was sent recently; retry in {retry_after_secs} s")]
    ResendCooldown {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
    /// The daily number of codes is used up.
    #[error("the daily limit of codes is reached; retry in {retry_after_secs} s")]
    DailyLimit {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
    /// The token being rotated is no longer active.
    #[error("the token is no longer valid")]
    TokenInvalid,
    /// Too many wrong passwords.
    #[error("too many wrong passwords; retry in {retry_after_secs} s")]
    LoginLocked {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
}

/// What a confirm attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The contact is confirmed.
    Confirmed,
    /// The phone was re-verified (a continued registration).
    Reverified,
    /// Wrong code; attempts left before the code locks.
    Wrong {
        /// Attempts left.
        remaining: u32,
    },
}

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
}

/// The member's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Member {
    /// Member id (empty: not opened).
    pub id: String,
    /// Phone or card.
    pub login_kind: i32,
    /// The login.
    pub login: String,
    /// Registration completed.
    pub registered: bool,
    /// Steps done.
    pub done: BTreeSet<i32>,
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
    /// Questionnaire answers.
    pub answers: Vec<pb::Answer>,
    /// Answers by logical name.
    pub profile: BTreeMap<String, String>,
    /// Cards: (number, kind).
    pub cards: Vec<(String, i32)>,
    /// Mailing consent.
    pub consent: bool,
    /// Social accounts: (network, user id).
    pub social: Vec<(String, String)>,
    /// Bank cards: (binding id, last 4).
    pub bank_cards: Vec<(String, String)>,
}

fn ts(t: DateTime<Utc>) -> Option<loyalty_proto::wkt::Timestamp> {
    Some(t.into())
}

fn time(t: &Option<loyalty_proto::wkt::Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| t.try_into().ok()).unwrap_or_default()
}

fn token_event(t: &NewToken) -> Event {
    Event::TokenIssued(pb::TokenIssued {
        token_id: t.token_id.clone(),
        secret_hash: t.secret_hash.clone(),
        expires_at: ts(t.expires_at),
        replaces: t.replaces.clone().unwrap_or_default(),
        limited: t.limited,
    })
}

impl Member {
    /// Whether the step is done.
    pub fn is_done(&self, step: Step) -> bool {
        self.done.contains(&(step as i32))
    }

    /// The contact of a channel.
    pub fn contact(&self, channel: Channel) -> &Contact {
        if channel == Channel::Email {
            &self.email
        } else {
            &self.phone
        }
    }

    /// Virtual cards the member has.
    pub fn virtual_cards(&self) -> usize {
        self.cards
            .iter()
            .filter(|(_, k)| *k == CardKind::Virtual as i32)
            .count()
    }

    /// The step a channel's confirmation completes.
    fn step_of(channel: Channel) -> Step {
        if channel == Channel::Email {
            Step::ChangeEmail
        } else {
            Step::ChangePhone
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
                    retry_after_secs: wait.num_seconds().max(1),
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
                retry_after_secs: wait.num_seconds().max(1),
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
                retry_after_secs: wait.num_seconds().max(1),
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
            let failed = Event::ConfirmCodeFailed(pb::ConfirmCodeFailed {
                channel: channel as i32,
                failed_at: ts(now),
            });
            let remaining = MAX_CODE_FAILURES - code.failures - 1;
            return Ok((vec![failed], ConfirmOutcome::Wrong { remaining }));
        }
        let mut events = Vec::new();
        let outcome = if reverify {
            ConfirmOutcome::Reverified
        } else {
            events.push(Event::ContactConfirmed(pb::ContactConfirmed {
                channel: channel as i32,
                value: target.to_owned(),
            }));
            events.push(if channel == Channel::Email {
                Event::EmailConfirmed(pb::EmailConfirmed {
                    member_id: self.id.clone(),
                    email_masked: super::values::Email::parse(target)
                        .map(|e| e.masked())
                        .unwrap_or_else(|_| mask_tail(target)),
                    confirmed_at: ts(now),
                })
            } else {
                Event::PhoneConfirmed(pb::PhoneConfirmed {
                    member_id: self.id.clone(),
                    phone_masked: mask_tail(target),
                    confirmed_at: ts(now),
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
        Event::StepCompleted(pb::StepCompleted {
            member_id: self.id.clone(),
            step: step as i32,
            completed_at: ts(now),
        })
    }

    fn code_event(channel: Channel, code: &NewCode, now: DateTime<Utc>) -> Event {
        Event::ConfirmCodeIssued(pb::ConfirmCodeIssued {
            channel: channel as i32,
            code_mac: code.mac.clone(),
            sent_at: ts(now),
            expires_at: ts(code.expires_at),
        })
    }
}

impl Aggregate for Member {
    type Command = Command;
    type Event = Event;
    type Error = MemberError;

    fn decide(&self, command: &Command) -> Result<Vec<Event>, MemberError> {
        match command {
            Command::Open {
                member_id,
                kind,
                login,
                now,
            } => {
                if !self.id.is_empty() {
                    return Err(MemberError::AlreadyOpen);
                }
                Ok(vec![
                    Event::MemberOpened(pb::MemberOpened {
                        member_id: member_id.clone(),
                        login_kind: *kind as i32,
                        login: login.clone(),
                        opened_at: ts(*now),
                    }),
                    Event::RegistrationStarted(pb::RegistrationStarted {
                        member_id: member_id.clone(),
                        login_kind: *kind as i32,
                        login_masked: mask_tail(login),
                        started_at: ts(*now),
                    }),
                ])
            }
            Command::IssueToken(t) => {
                self.open()?;
                self.check_rotation(t)?;
                Ok(vec![token_event(t)])
            }
            Command::RevokeToken(id) => {
                self.open()?;
                Ok(if self.tokens.contains_key(id) {
                    vec![Event::TokenRevoked(pb::TokenRevoked {
                        token_id: id.clone(),
                    })]
                } else {
                    Vec::new()
                })
            }
            Command::Accept(now) => {
                self.step_open(Step::AcceptTenderOffer)?;
                if self.registered {
                    return Err(MemberError::AlreadyRegistered);
                }
                Ok(vec![self.step(Step::AcceptTenderOffer, *now)])
            }
            Command::EnterContact {
                channel,
                value,
                code,
                now,
                limits,
            } => {
                self.step_open(Self::step_of(*channel))?;
                let contact = self.contact(*channel);
                self.check_send(contact, value, *now, *limits)?;
                Ok(vec![
                    Event::ContactEntered(pb::ContactEntered {
                        channel: *channel as i32,
                        value: value.clone(),
                    }),
                    Self::code_event(*channel, code, *now),
                ])
            }
            Command::Resend {
                channel,
                code,
                now,
                limits,
            } => {
                self.open()?;
                let contact = self.contact(*channel);
                let Some(target) = contact.target() else {
                    return Err(MemberError::NothingToConfirm);
                };
                self.check_send(contact, target, *now, *limits)?;
                Ok(vec![Self::code_event(*channel, code, *now)])
            }
            Command::Confirm {
                channel,
                mac,
                now,
                rotate,
            } => self
                .confirm(*channel, mac, *now, rotate.as_ref())
                .map(|(e, _)| e),
            Command::SetPassword { hash, now, rotate } => {
                self.step_open(Step::PasswordRequired)?;
                self.check_rotation(rotate)?;
                let mut events = vec![Event::PasswordSet(pb::PasswordSet {
                    password_hash: hash.clone(),
                })];
                if !self.registered {
                    events.push(self.step(Step::PasswordRequired, *now));
                }
                events.push(token_event(rotate));
                Ok(events)
            }
            Command::SaveAnswers(accepted, now) => {
                self.step_open(Step::Questions)?;
                let mut events = vec![Event::AnswersSaved(pb::AnswersSaved {
                    answers: accepted.answers.clone(),
                    profile: accepted.profile.clone().into_iter().collect(),
                })];
                if !self.registered {
                    events.push(self.step(Step::Questions, *now));
                }
                Ok(events)
            }
            Command::AddCard { number, kind, now } => {
                self.open()?;
                if self.cards.iter().any(|(n, _)| n == number) {
                    return Ok(Vec::new());
                }
                let masked = mask_tail(number);
                let mut events = vec![Event::MemberCardAdded(pb::MemberCardAdded {
                    card_number: number.clone(),
                    kind: *kind as i32,
                })];
                events.push(if *kind == CardKind::Virtual {
                    Event::VirtualCardEmitted(pb::VirtualCardEmitted {
                        member_id: self.id.clone(),
                        card_masked: masked.clone(),
                        emitted_at: ts(*now),
                    })
                } else {
                    Event::CardBound(pb::CardBound {
                        member_id: self.id.clone(),
                        card_masked: masked.clone(),
                        bound_at: ts(*now),
                    })
                });
                if self.cards.is_empty() {
                    events.push(Event::CardIssued(pb::CardIssued {
                        member_id: self.id.clone(),
                        card_masked: masked,
                        kind: *kind as i32,
                        issued_at: ts(*now),
                    }));
                }
                if !self.registered && !self.is_done(Step::AssignCard) {
                    events.push(self.step(Step::AssignCard, *now));
                }
                Ok(events)
            }
            Command::Finish {
                required,
                now,
                rotate,
            } => {
                self.open()?;
                if self.registered {
                    return Err(MemberError::AlreadyRegistered);
                }
                if let Some(step) = required.iter().find(|s| !self.is_done(**s)) {
                    return Err(MemberError::StepRequired(*step));
                }
                self.check_rotation(rotate)?;
                Ok(vec![
                    Event::RegistrationCompleted(pb::RegistrationCompleted {
                        member_id: self.id.clone(),
                        login_kind: self.login_kind,
                        completed_at: ts(*now),
                    }),
                    token_event(rotate),
                ])
            }
            Command::FailLogin(now) => {
                self.open()?;
                Ok(vec![Event::LoginFailed(pb::LoginFailed {
                    failed_at: ts(*now),
                })])
            }
            Command::SetConsent(consent, now) => {
                self.open()?;
                Ok(if self.consent == *consent {
                    Vec::new()
                } else {
                    vec![Event::ConsentChanged(pb::ConsentChanged {
                        member_id: self.id.clone(),
                        mailing_consent: *consent,
                        changed_at: ts(*now),
                    })]
                })
            }
            Command::LinkSocial {
                network,
                external_user_id,
                now,
            } => {
                self.open()?;
                let link = (network.clone(), external_user_id.clone());
                Ok(if self.social.contains(&link) {
                    Vec::new()
                } else {
                    vec![Event::SocialAccountLinked(pb::SocialAccountLinked {
                        member_id: self.id.clone(),
                        network: network.clone(),
                        external_user_id: external_user_id.clone(),
                        linked_at: ts(*now),
                    })]
                })
            }
            Command::AddBankCard {
                binding_id,
                last4,
                now,
            } => {
                self.open()?;
                Ok(if self.bank_cards.iter().any(|(b, _)| b == binding_id) {
                    Vec::new()
                } else {
                    vec![Event::BankCardBound(pb::BankCardBound {
                        member_id: self.id.clone(),
                        binding_id: binding_id.clone(),
                        last4: last4.clone(),
                        bound_at: ts(*now),
                    })]
                })
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::MemberOpened(e) => {
                self.id = e.member_id.clone();
                self.login_kind = e.login_kind;
                self.login = e.login.clone();
            }
            Event::StepCompleted(e) => {
                self.done.insert(e.step);
            }
            Event::ContactEntered(e) => {
                let c = self.contact_mut(e.channel);
                c.pending = Some(e.value.clone());
                c.code = None;
            }
            Event::ConfirmCodeIssued(e) => {
                let c = self.contact_mut(e.channel);
                c.code = Some(Code {
                    mac: e.code_mac.clone(),
                    expires_at: Some(time(&e.expires_at)),
                    failures: 0,
                });
                let sent = time(&e.sent_at);
                c.sends.retain(|t| sent - *t < Duration::hours(48));
                c.sends.push(sent);
            }
            Event::ConfirmCodeFailed(e) => {
                if let Some(code) = self.contact_mut(e.channel).code.as_mut() {
                    code.failures += 1;
                }
            }
            Event::ContactConfirmed(e) => {
                let c = self.contact_mut(e.channel);
                c.confirmed = Some(e.value.clone());
                c.pending = None;
                c.code = None;
            }
            Event::PasswordSet(e) => {
                self.password_hash = Some(e.password_hash.clone());
                self.login_failures.clear();
            }
            Event::LoginFailed(e) => {
                let at = time(&e.failed_at);
                self.login_failures
                    .retain(|t| at - *t < Duration::hours(24));
                self.login_failures.push(at);
            }
            Event::TokenIssued(e) => {
                if !e.replaces.is_empty() {
                    self.tokens.remove(&e.replaces);
                }
                self.tokens.insert(
                    e.token_id.clone(),
                    Token {
                        secret_hash: e.secret_hash.clone(),
                        expires_at: time(&e.expires_at),
                        limited: e.limited,
                    },
                );
                self.tokens_issued += 1;
                while self.tokens.len() > MAX_TOKENS {
                    let oldest = self
                        .tokens
                        .iter()
                        .min_by_key(|(id, t)| (t.expires_at, (*id).clone()))
                        .map(|(id, _)| id.clone())
                        .expect("non-empty");
                    self.tokens.remove(&oldest);
                }
            }
            Event::TokenRevoked(e) => {
                self.tokens.remove(&e.token_id);
            }
            Event::AnswersSaved(e) => {
                self.answers = e.answers.clone();
                self.profile = e.profile.clone().into_iter().collect();
            }
            Event::MemberCardAdded(e) => self.cards.push((e.card_number.clone(), e.kind)),
            Event::RegistrationCompleted(_) => self.registered = true,
            Event::ConsentChanged(e) => self.consent = e.mailing_consent,
            Event::SocialAccountLinked(e) => self
                .social
                .push((e.network.clone(), e.external_user_id.clone())),
            Event::BankCardBound(e) => self
                .bank_cards
                .push((e.binding_id.clone(), e.last4.clone())),
            _ => {}
        }
    }
}

impl Member {
    fn contact_mut(&mut self, channel: i32) -> &mut Contact {
        if channel == Channel::Email as i32 {
            &mut self.email
        } else {
            &mut self.phone
        }
    }
}
