use chrono::TimeZone;
use kit::outbox::EventCodec;

use super::*;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

#[test]
fn every_event_round_trips_and_private_ones_are_not_published() {
    let samples = vec![
        Event::StepCompleted(ev::StepCompleted {
            member_id: "m".into(),
            step: Step::Questions,
            completed_at: at(),
        }),
        Event::PasswordSet(ev::PasswordSet {
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

#[test]
fn domain_events_are_stored_as_the_same_bytes_as_their_messages() {
    let ts = Some(Timestamp::from(at()));
    let pairs: Vec<(Event, Vec<u8>)> = vec![
        (
            Event::StepCompleted(ev::StepCompleted {
                member_id: "m".into(),
                step: Step::AssignCard,
                completed_at: at(),
            }),
            pb::StepCompleted {
                member_id: "m".into(),
                step: pb::UserActionType::AssignCard as i32,
                completed_at: ts,
            }
            .encode_to_vec(),
        ),
        (
            Event::ConfirmCodeIssued(ev::ConfirmCodeIssued {
                channel: Channel::Email,
                code_mac: vec![1, 2],
                sent_at: at(),
                expires_at: at(),
            }),
            pb::ConfirmCodeIssued {
                channel: pb::Channel::Email as i32,
                code_mac: vec![1, 2],
                sent_at: ts,
                expires_at: ts,
            }
            .encode_to_vec(),
        ),
        (
            Event::MessageFailed(ev::MessageFailed {
                request_id: "r".into(),
                member_id: String::new(),
                channel: None,
                template_id: "t".into(),
                reason: "UNKNOWN_MEMBER".into(),
                detail: "d".into(),
                failed_at: at(),
            }),
            pb::MessageFailed {
                request_id: "r".into(),
                template_id: "t".into(),
                reason: "UNKNOWN_MEMBER".into(),
                detail: "d".into(),
                failed_at: ts,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            Event::MemberCardAdded(ev::MemberCardAdded {
                card_number: "1".into(),
                kind: CardKind::Virtual,
            }),
            pb::MemberCardAdded {
                card_number: "1".into(),
                kind: pb::CardKind::Virtual as i32,
            }
            .encode_to_vec(),
        ),
        (
            Event::LoginClaimed(ev::LoginClaimed {
                member_id: "m".into(),
                kind: LoginKind::Card,
                login: "1".into(),
            }),
            pb::LoginClaimed {
                member_id: "m".into(),
                kind: pb::LoginKind::Card as i32,
                login: "1".into(),
            }
            .encode_to_vec(),
        ),
    ];
    for (e, bytes) in pairs {
        assert_eq!(e.encode(), bytes, "{e:?}");
        assert_eq!(Event::decode(e.event_type(), &bytes).unwrap(), e);
    }
}

#[test]
fn what_earlier_versions_stored_still_decodes() {
    let odd = pb::MessageFailed {
        channel: 7,
        ..Default::default()
    };
    let e = Event::decode("loyalty.identity.v1.MessageFailed", &odd.encode_to_vec()).unwrap();
    let Event::MessageFailed(f) = e else { panic!() };
    assert_eq!(f.channel, None);
    assert_eq!(f.failed_at, DateTime::<Utc>::default());
    let bad_step = pb::StepCompleted {
        step: 99,
        ..Default::default()
    };
    assert!(
        Event::decode(
            "loyalty.identity.v1.StepCompleted",
            &bad_step.encode_to_vec()
        )
        .is_err()
    );
}
