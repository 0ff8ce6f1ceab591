//! The identity service's events on the wire: each domain event
//! ([`crate::domain::event`]) ⇄ the `loyalty.identity.v1` message of the
//! same name, stored in the log as protobuf. Public events are published on
//! `loyalty.identity.*`; private ones (secrets' hashes, contacts, full card
//! numbers) stay in the log: the outbox codec skips them.
//!
//! Decoding accepts everything earlier versions stored: a missing time
//! reads as the epoch, an unknown channel as SMS (the `MessageFailed`
//! channel as none), an unknown card kind as physical and an unknown login
//! kind as a phone — the readings the aggregates always gave them. Only an
//! unknown registration step is refused (no version ever stored one).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kit::aggregate::{DecodeError, DomainEvent};
use kit::outbox::ProtoJsonCodec;
use loyalty_proto::identity::v1 as pb;
use loyalty_proto::wkt::Timestamp;
use prost::Message;

use crate::domain::event as ev;
pub use crate::domain::event::Event;
use crate::domain::model::{Answer, CardKind, Channel, LoginKind, Step};

/// A domain value and its field on the wire.
trait Wire: Sized {
    /// The field's type in the message.
    type W;
    /// The value as the message holds it.
    fn to_wire(&self) -> Self::W;
    /// The value a message holds (`Err`: why it cannot be read).
    fn from_wire(w: Self::W) -> Result<Self, String>;
}

macro_rules! same {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            type W = $t;
            fn to_wire(&self) -> $t {
                self.clone()
            }
            fn from_wire(w: $t) -> Result<Self, String> {
                Ok(w)
            }
        }
    )*};
}
same!(String, bool, u64, Vec<u8>);

impl Wire for DateTime<Utc> {
    type W = Option<Timestamp>;
    fn to_wire(&self) -> Option<Timestamp> {
        Some((*self).into())
    }
    fn from_wire(w: Option<Timestamp>) -> Result<Self, String> {
        Ok(w.and_then(|t| t.try_into().ok()).unwrap_or_default())
    }
}

impl Wire for Option<DateTime<Utc>> {
    type W = Option<Timestamp>;
    fn to_wire(&self) -> Option<Timestamp> {
        self.map(Into::into)
    }
    fn from_wire(w: Option<Timestamp>) -> Result<Self, String> {
        Ok(w.and_then(|t| t.try_into().ok()))
    }
}

impl Wire for Channel {
    type W = i32;
    fn to_wire(&self) -> i32 {
        pb::Channel::from(*self) as i32
    }
    fn from_wire(w: i32) -> Result<Self, String> {
        Ok(Option::<Channel>::from_wire(w)?.unwrap_or(Channel::Sms))
    }
}

impl Wire for Option<Channel> {
    type W = i32;
    fn to_wire(&self) -> i32 {
        self.map_or(pb::Channel::Unspecified as i32, |c| c.to_wire())
    }
    fn from_wire(w: i32) -> Result<Self, String> {
        Ok(match pb::Channel::try_from(w) {
            Ok(pb::Channel::Sms) => Some(Channel::Sms),
            Ok(pb::Channel::Email) => Some(Channel::Email),
            Ok(pb::Channel::Unspecified) | Err(_) => None,
        })
    }
}

/// Two-valued enums, as their message enum of the same name: `$other` as
/// such, anything else (UNSPECIFIED, an unknown value) as `$default`.
macro_rules! two_valued {
    ($($t:ident: $other:ident else $default:ident),*) => {$(
        impl Wire for $t {
            type W = i32;
            fn to_wire(&self) -> i32 {
                pb::$t::from(*self) as i32
            }
            fn from_wire(w: i32) -> Result<Self, String> {
                Ok(match pb::$t::try_from(w) {
                    Ok(pb::$t::$other) => $t::$other,
                    Ok(pb::$t::$default | pb::$t::Unspecified) | Err(_) => $t::$default,
                })
            }
        }
    )*};
}
two_valued!(CardKind: Virtual else Physical, LoginKind: Card else Phone);

impl Wire for Step {
    type W = i32;
    fn to_wire(&self) -> i32 {
        pb::UserActionType::from(*self) as i32
    }
    fn from_wire(w: i32) -> Result<Self, String> {
        pb::UserActionType::try_from(w)
            .ok()
            .and_then(crate::grpc::convert::step)
            .ok_or_else(|| format!("unknown step {w}"))
    }
}

impl Wire for Vec<Answer> {
    type W = Vec<pb::Answer>;
    fn to_wire(&self) -> Vec<pb::Answer> {
        self.iter().cloned().map(pb::Answer::from).collect()
    }
    fn from_wire(w: Vec<pb::Answer>) -> Result<Self, String> {
        Ok(w.into_iter().map(Answer::from).collect())
    }
}

impl Wire for BTreeMap<String, String> {
    type W = HashMap<String, String>;
    fn to_wire(&self) -> HashMap<String, String> {
        self.clone().into_iter().collect()
    }
    fn from_wire(w: HashMap<String, String>) -> Result<Self, String> {
        Ok(w.into_iter().collect())
    }
}

/// The events: each domain event with the fields of its message, public
/// ones first.
macro_rules! events {
    (
        public: $($pv:ident { $($pf:ident),* }),* ;
        private: $($qv:ident { $($qf:ident),* }),* $(,)?
    ) => {
        $(events!(@wire $pv { $($pf),* });)*
        $(events!(@wire $qv { $($qf),* });)*

        impl DomainEvent for Event {
            fn event_type(&self) -> &'static str {
                match self {
                    $(Event::$pv(_) => concat!("loyalty.identity.v1.", stringify!($pv)),)*
                    $(Event::$qv(_) => concat!("loyalty.identity.v1.", stringify!($qv)),)*
                }
            }

            fn encode(&self) -> Vec<u8> {
                match self {
                    $(Event::$pv(e) => e.to_wire().encode_to_vec(),)*
                    $(Event::$qv(e) => e.to_wire().encode_to_vec(),)*
                }
            }

            fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
                let err = |reason: String| DecodeError {
                    event_type: event_type.to_owned(),
                    reason,
                };
                let proto = |e: prost::DecodeError| err(e.to_string());
                match event_type.strip_prefix("loyalty.identity.v1.") {
                    $(Some(stringify!($pv)) => {
                        let m = pb::$pv::decode(payload).map_err(proto)?;
                        ev::$pv::from_wire(m).map(Event::$pv).map_err(err)
                    })*
                    $(Some(stringify!($qv)) => {
                        let m = pb::$qv::decode(payload).map_err(proto)?;
                        ev::$qv::from_wire(m).map(Event::$qv).map_err(err)
                    })*
                    _ => Err(err("not an identity event".to_owned())),
                }
            }
        }

        /// The outbox codec: public events as proto3 JSON, private ones skipped.
        pub fn json_codec() -> ProtoJsonCodec {
            ProtoJsonCodec::new()
                $(.register::<pb::$pv>(concat!("loyalty.identity.v1.", stringify!($pv))))*
                $(.private(concat!("loyalty.identity.v1.", stringify!($qv))))*
        }

        /// Full names of the public event types.
        pub const PUBLIC_TYPES: &[&str] = &[$(concat!("loyalty.identity.v1.", stringify!($pv))),*];
        /// Full names of the private event types.
        pub const PRIVATE_TYPES: &[&str] = &[$(concat!("loyalty.identity.v1.", stringify!($qv))),*];
    };
    (@wire $name:ident { $($field:ident),* }) => {
        impl Wire for ev::$name {
            type W = pb::$name;
            fn to_wire(&self) -> pb::$name {
                pb::$name {
                    $($field: self.$field.to_wire(),)*
                }
            }
            fn from_wire(m: pb::$name) -> Result<Self, String> {
                Ok(ev::$name {
                    $($field: Wire::from_wire(m.$field)?,)*
                })
            }
        }
    };
}

events! {
    public:
        RegistrationStarted { member_id, login_kind, login_masked, started_at },
        StepCompleted { member_id, step, completed_at },
        PhoneConfirmed { member_id, phone_masked, confirmed_at },
        EmailConfirmed { member_id, email_masked, confirmed_at },
        CardBound { member_id, card_masked, bound_at },
        VirtualCardEmitted { member_id, card_masked, emitted_at },
        CardIssued { member_id, card_masked, kind, issued_at },
        RegistrationCompleted { member_id, login_kind, completed_at },
        SocialAccountLinked { member_id, network, external_user_id, linked_at },
        BankCardBound { member_id, binding_id, last4, bound_at },
        ConsentChanged { member_id, mailing_consent, changed_at },
        CardsLoaded { loaded, loaded_at },
        CardBlocked { card_masked, member_id, reason, blocked_at },
        MessageSent { request_id, member_id, channel, template_id, recipient_masked, sent_at },
        MessageFailed { request_id, member_id, channel, template_id, reason, detail, failed_at };
    private:
        LoginClaimed { member_id, kind, login },
        MemberOpened { member_id, login_kind, login, opened_at },
        ContactEntered { channel, value },
        ConfirmCodeIssued { channel, code_mac, sent_at, expires_at },
        ConfirmCodeFailed { channel, failed_at },
        ContactConfirmed { channel, value },
        PasswordSet { password_hash },
        LoginFailed { failed_at },
        TokenIssued { token_id, secret_hash, expires_at, replaces, limited, refresh_hash, refresh_expires_at, issued_at },
        TokenRevoked { token_id },
        AnswersSaved { answers, profile },
        MemberCardAdded { card_number, kind },
        CardCreated { card_number, kind },
        CardAssigned { member_id },
        CardLocked { reason },
        VirtualNumberAllocated { card_number, member_id },
        SocialClaimed { member_id },
        BankCardClaimed { member_id, binding_id, last4 },
        ClaimReleased { member_id },
        TemplateDefined { template_id, channel, subject, body },
}

/// A recorded `MessageSent` as the message answers and events carry it.
pub fn message_sent(e: &ev::MessageSent) -> pb::MessageSent {
    e.to_wire()
}

#[cfg(test)]
mod tests;
