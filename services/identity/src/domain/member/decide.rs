//! The member aggregate's decisions (commands → events) and their application.

use super::*;
use crate::domain::values::mask_tail;
use chrono::Duration;
use kit::aggregate::Aggregate;

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
                    Event::MemberOpened(ev::MemberOpened {
                        member_id: member_id.clone(),
                        login_kind: *kind,
                        login: login.clone(),
                        opened_at: *now,
                    }),
                    Event::RegistrationStarted(ev::RegistrationStarted {
                        member_id: member_id.clone(),
                        login_kind: *kind,
                        login_masked: mask_tail(login),
                        started_at: *now,
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
                    vec![Event::TokenRevoked(ev::TokenRevoked {
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
                contact: entered,
                code,
                now,
                limits,
            } => {
                let (channel, value) = (&entered.channel(), entered.as_str());
                self.step_open(Self::step_of(*channel))?;
                if *channel == Channel::Email {
                    self.phone_proven()?;
                }
                let contact = self.contact(*channel);
                self.check_send(contact, value, *now, *limits)?;
                Ok(vec![
                    Event::ContactEntered(ev::ContactEntered {
                        channel: *channel,
                        value: value.to_owned(),
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
                self.phone_proven()?;
                self.check_rotation(rotate)?;
                let mut events = vec![Event::PasswordSet(ev::PasswordSet {
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
                self.phone_proven()?;
                let mut events = vec![Event::AnswersSaved(ev::AnswersSaved {
                    answers: accepted.answers.clone(),
                    profile: accepted.profile.clone(),
                })];
                if !self.registered {
                    events.push(self.step(Step::Questions, *now));
                }
                Ok(events)
            }
            Command::AddCard { number, kind, now } => {
                self.open()?;
                if *kind == CardKind::Physical {
                    self.phone_proven()?;
                }
                if self.cards.iter().any(|(n, _)| n == number) {
                    return Ok(Vec::new());
                }
                let masked = mask_tail(number);
                let mut events = vec![Event::MemberCardAdded(ev::MemberCardAdded {
                    card_number: number.clone(),
                    kind: *kind,
                })];
                events.push(if *kind == CardKind::Virtual {
                    Event::VirtualCardEmitted(ev::VirtualCardEmitted {
                        member_id: self.id.clone(),
                        card_masked: masked.clone(),
                        emitted_at: *now,
                    })
                } else {
                    Event::CardBound(ev::CardBound {
                        member_id: self.id.clone(),
                        card_masked: masked.clone(),
                        bound_at: *now,
                    })
                });
                if self.cards.is_empty() {
                    events.push(Event::CardIssued(ev::CardIssued {
                        member_id: self.id.clone(),
                        card_masked: masked,
                        kind: *kind,
                        issued_at: *now,
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
                    Event::RegistrationCompleted(ev::RegistrationCompleted {
                        member_id: self.id.clone(),
                        login_kind: self.login_kind.unwrap_or(LoginKind::Phone),
                        completed_at: *now,
                    }),
                    token_event(rotate),
                ])
            }
            Command::FailLogin(now) => {
                self.open()?;
                Ok(vec![Event::LoginFailed(ev::LoginFailed {
                    failed_at: *now,
                })])
            }
            Command::SetConsent(consent, now) => {
                self.open()?;
                Ok(if self.consent == *consent {
                    Vec::new()
                } else {
                    vec![Event::ConsentChanged(ev::ConsentChanged {
                        member_id: self.id.clone(),
                        mailing_consent: *consent,
                        changed_at: *now,
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
                    vec![Event::SocialAccountLinked(ev::SocialAccountLinked {
                        member_id: self.id.clone(),
                        network: network.clone(),
                        external_user_id: external_user_id.clone(),
                        linked_at: *now,
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
                    vec![Event::BankCardBound(ev::BankCardBound {
                        member_id: self.id.clone(),
                        binding_id: binding_id.clone(),
                        last4: last4.clone(),
                        bound_at: *now,
                    })]
                })
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::MemberOpened(e) => {
                self.id = e.member_id.clone();
                self.login_kind = Some(e.login_kind);
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
                    expires_at: Some(e.expires_at),
                    failures: 0,
                });
                let sent = e.sent_at;
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
                let at = e.failed_at;
                self.login_failures
                    .retain(|t| at - *t < Duration::hours(24));
                self.login_failures.push(at);
            }
            Event::TokenIssued(e) => {
                if !e.replaces.is_empty()
                    && let Some(old) = self.tokens.remove(&e.replaces)
                    && let Some(refresh) = old.refresh
                {
                    self.retired.push(Retired {
                        token_id: e.replaces.clone(),
                        refresh_hash: refresh.secret_hash,
                        successor: e.token_id.clone(),
                        at: e.issued_at,
                    });
                    if self.retired.len() > MAX_TOKENS {
                        self.retired.remove(0);
                    }
                }
                let refresh = e.refresh_expires_at.and_then(|expires_at| {
                    (!e.refresh_hash.is_empty()).then(|| Refresh {
                        secret_hash: e.refresh_hash.clone(),
                        expires_at,
                    })
                });
                self.tokens.insert(
                    e.token_id.clone(),
                    Token {
                        secret_hash: e.secret_hash.clone(),
                        expires_at: e.expires_at,
                        limited: e.limited,
                        refresh,
                    },
                );
                self.tokens_issued += 1;
                while self.tokens.len() > MAX_TOKENS {
                    let Some(oldest) = self
                        .tokens
                        .iter()
                        .min_by_key(|(id, t)| (t.expires_at, (*id).clone()))
                        .map(|(id, _)| id.clone())
                    else {
                        break;
                    };
                    self.tokens.remove(&oldest);
                }
            }
            Event::TokenRevoked(e) => {
                self.tokens.remove(&e.token_id);
            }
            Event::AnswersSaved(e) => {
                self.answers = e.answers.clone();
                self.profile = e.profile.clone();
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
