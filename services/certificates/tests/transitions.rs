//! A certificate's moves to another state each carry a notice of their own
//! (given events, when a command, then events): an import line that
//! activates, cancels, refunds, redeems or expires a certificate, a capture
//! that spends it, a refund that brings it back — and nothing for a line
//! that changes no state, for a new certificate, or for the expiry sweep
//! (its `Expired` is the notice). Every event reads back as written.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use certificates::domain::certificate::{Cause, Certificate, Command, Event, Issue, Source};
use certificates::domain::identifiers::certificate_id;
use certificates::domain::line::{Header, ImportLine};
use certificates::domain::redemption::Use;
use certificates::domain::status::Status;
use chrono::{DateTime, Utc};
use kit::aggregate::{DomainEvent, given_when};

fn line(status: &str, amount: &str) -> Command {
    let h = Header::parse("Number;Status;Amount;ExpirationDate".split(';')).unwrap();
    let line =
        ImportLine::parse(&h, format!("N1;{status};{amount};2030-01-01").split(';')).unwrap();
    Command::Import {
        certificate_id: certificate_id(&line.ids).unwrap(),
        line,
        issue: Issue::default(),
        fixed_value: None,
        source: Source {
            import_id: "job".into(),
            line: 7,
        },
    }
}

fn given(status: &str) -> Vec<Event> {
    given_when::<Certificate>(&[], &line(status, "100")).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

/// The events read back from the log as they were written.
fn round_trip(events: &[Event]) {
    for e in events {
        assert_eq!(&Event::decode(e.event_type(), &e.encode()).unwrap(), e);
    }
}

#[test]
fn an_import_line_that_moves_the_state_adds_its_notice() {
    let by_import = Cause::Import(Source {
        import_id: "job".into(),
        line: 7,
    });
    for (from, to, want) in [
        ("Prepared", "Activated", Status::Activated),
        ("Prepared", "Canceled", Status::Canceled),
        ("Activated", "Canceled", Status::Canceled),
        ("Activated", "Refunded", Status::Refunded),
    ] {
        let events = given_when::<Certificate>(&given(from), &line(to, "100")).unwrap();
        round_trip(&events);
        assert!(
            matches!(&events[..], [Event::Updated { .. }, Event::Transitioned { to, cause, .. }] if *to == want && *cause == by_import),
            "{from} → {to}: {events:?}"
        );
    }
    // Redeemed by a line (amount 0), with the balance after.
    let events = given_when::<Certificate>(&given("Activated"), &line("Redeemed", "0")).unwrap();
    assert!(
        matches!(&events[..], [Event::Updated { .. }, Event::Transitioned { to: Status::Redeemed, amount, .. }] if amount.is_zero()),
        "{events:?}"
    );
    // Expired by a line: the Expired notice, with the date it has.
    let events = given_when::<Certificate>(&given("Activated"), &line("Expired", "100")).unwrap();
    round_trip(&events);
    assert!(
        matches!(
            &events[..],
            [
                Event::Updated { .. },
                Event::Expired {
                    from: Status::Activated,
                    expiration_date: Some(_),
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    // No move: a new certificate, a line that changes only the amount.
    assert_eq!(given("Activated").len(), 1);
    let events = given_when::<Certificate>(&given("Activated"), &line("Activated", "50")).unwrap();
    assert!(matches!(&events[..], [Event::Updated { .. }]), "{events:?}");
}

#[test]
fn a_capture_that_spends_it_redeems_it_and_a_refund_activates_it_again() {
    let mut history = given("Activated");
    let hold = Command::Use(Use::Hold {
        hold_id: "h1".into(),
        purchase_id: "p1".into(),
        amount: "100".parse().unwrap(),
        now: now(),
        lapses_at: None,
    });
    history.extend(given_when::<Certificate>(&history, &hold).unwrap());
    let capture = Command::Use(Use::Capture {
        hold_id: "h1".into(),
        now: now(),
    });
    let captured = given_when::<Certificate>(&history, &capture).unwrap();
    round_trip(&captured);
    let by_payment = Cause::Payment {
        hold_id: "h1".into(),
    };
    assert!(
        matches!(&captured[..], [Event::Used { .. }, Event::Transitioned { from: Status::Activated, to: Status::Redeemed, cause, .. }] if *cause == by_payment),
        "{captured:?}"
    );
    history.extend(captured);
    let restore = Command::Use(Use::Restore {
        refund_id: "r1".into(),
        hold_id: "h1".into(),
        amount: "30".parse().unwrap(),
    });
    let restored = given_when::<Certificate>(&history, &restore).unwrap();
    round_trip(&restored);
    assert!(
        matches!(&restored[..], [Event::Used { .. }, Event::Transitioned { from: Status::Redeemed, to: Status::Activated, amount, .. }] if amount.to_string() == "30"),
        "{restored:?}"
    );
    // A second refund on an Activated certificate moves no state.
    history.extend(restored);
    let again = Command::Use(Use::Restore {
        refund_id: "r2".into(),
        hold_id: "h1".into(),
        amount: "10".parse().unwrap(),
    });
    let events = given_when::<Certificate>(&history, &again).unwrap();
    assert!(matches!(&events[..], [Event::Used { .. }]), "{events:?}");
}

#[test]
fn the_expiry_sweep_records_one_expired_and_no_other_notice() {
    let expire = Command::Expire {
        today: "2031-01-01".parse().unwrap(),
    };
    let events = given_when::<Certificate>(&given("Activated"), &expire).unwrap();
    assert!(matches!(&events[..], [Event::Expired { .. }]), "{events:?}");
}
