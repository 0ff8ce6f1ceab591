//! The identity service's events: one enum over the `loyalty.identity.v1`
//! messages, stored in the log as protobuf. Public events are published on
//! `loyalty.identity.*`; private ones (secrets' hashes, contacts, full card
//! numbers) stay in the log: the outbox codec skips them.

use kit::aggregate::{DecodeError, DomainEvent};
use kit::outbox::ProtoJsonCodec;
use loyalty_proto::identity::v1 as pb;
use prost::Message;

macro_rules! events {
    (public: $($pv:ident),* ; private: $($qv:ident),* $(,)?) => {
        /// Every event of the identity service.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $(
                #[doc = concat!("Public `", stringify!($pv), "`.")]
                $pv(pb::$pv),
            )*
            $(
                #[doc = concat!("Private `", stringify!($qv), "`.")]
                $qv(pb::$qv),
            )*
        }

        impl DomainEvent for Event {
            fn event_type(&self) -> &'static str {
                match self {
                    $(Event::$pv(_) => concat!("loyalty.identity.v1.", stringify!($pv)),)*
                    $(Event::$qv(_) => concat!("loyalty.identity.v1.", stringify!($qv)),)*
                }
            }

            fn encode(&self) -> Vec<u8> {
                match self {
                    $(Event::$pv(m) => m.encode_to_vec(),)*
                    $(Event::$qv(m) => m.encode_to_vec(),)*
                }
            }

            fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
                let err = |e: prost::DecodeError| DecodeError {
                    event_type: event_type.to_owned(),
                    reason: e.to_string(),
                };
                match event_type.strip_prefix("loyalty.identity.v1.") {
                    $(Some(stringify!($pv)) => pb::$pv::decode(payload).map(Event::$pv).map_err(err),)*
                    $(Some(stringify!($qv)) => pb::$qv::decode(payload).map(Event::$qv).map_err(err),)*
                    _ => Err(DecodeError {
                        event_type: event_type.to_owned(),
                        reason: "not an identity event".to_owned(),
                    }),
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
}

events! {
    public: RegistrationStarted, StepCompleted, PhoneConfirmed, EmailConfirmed, CardBound,
        VirtualCardEmitted, CardIssued, RegistrationCompleted, SocialAccountLinked, BankCardBound,
        ConsentChanged, CardsLoaded, CardBlocked, MessageSent, MessageFailed;
    private: LoginClaimed, MemberOpened, ContactEntered, ConfirmCodeIssued, ConfirmCodeFailed,
        ContactConfirmed, PasswordSet, LoginFailed, TokenIssued, TokenRevoked, AnswersSaved,
        MemberCardAdded, CardCreated, CardAssigned, CardLocked, VirtualNumberAllocated,
        SocialClaimed, BankCardClaimed, ClaimReleased, TemplateDefined,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::outbox::EventCodec;

    #[test]
    fn every_event_round_trips_and_private_ones_are_not_published() {
        let samples = vec![
            Event::StepCompleted(pb::StepCompleted {
                member_id: "m".into(),
                step: pb::UserActionType::Questions as i32,
                completed_at: None,
            }),
            Event::PasswordSet(pb::PasswordSet {
                password_hash: "$argon2id$...".into(),
            }),
        ];
        let codec = json_codec();
        for e in samples {
            let back = Event::decode(e.event_type(), &e.encode()).unwrap();
            assert_eq!(back, e);
        }
        for t in PRIVATE_TYPES {
            assert!(codec.is_private(t), "{t}");
        }
        for t in PUBLIC_TYPES {
            assert!(!codec.is_private(t), "{t}");
            assert!(codec.to_json(t, &[]).is_ok(), "{t}");
        }
    }
}
