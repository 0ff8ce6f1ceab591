//! Paying with a certificate in a purchase's two phases, on the domain:
//! holds take money aside, captures spend it, releases give it back,
//! refunds restore it — each once, never more than there is; and over any
//! sequence of uses the money is conserved.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use certificates::domain::certificate::{Certificate, Command, Event, Issue, Source};
use certificates::domain::identifiers::certificate_id;
use certificates::domain::line::{Header, ImportLine};
use certificates::domain::redemption::Use;
use certificates::domain::status::Status;
use chrono::{DateTime, Duration, Utc};
use kit::aggregate::{Aggregate, DomainEvent, replay};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn activated(amount: &str, one_time: bool) -> Certificate {
    let h = Header::parse("Number;Status;Amount;ExpirationDate".split(';')).unwrap();
    let line =
        ImportLine::parse(&h, format!("N1;Activated;{amount};2030-01-01").split(';')).unwrap();
    let command = Command::Import {
        certificate_id: certificate_id(&line.ids).unwrap(),
        line,
        issue: Issue {
            issue_id: "i".into(),
            one_time,
            currency: "RUB".into(),
        },
        fixed_value: None,
        source: Source::default(),
    };
    let events = Certificate::default().decide(&command).unwrap();
    replay::<Certificate>(&events)
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

fn hold(id: &str, amount: &str) -> Command {
    Command::Use(Use::Hold {
        hold_id: id.into(),
        purchase_id: format!("p-{id}"),
        amount: d(amount),
        now: now(),
        lapses_at: Some(now() + Duration::hours(1)),
    })
}

/// Runs `c` on `state`; the state after, or the refusal's text.
fn run(state: &Certificate, c: &Command) -> Result<(Certificate, usize), String> {
    let events: Vec<Event> = state.decide(c).map_err(|e| e.to_string())?;
    let mut next = state.clone();
    for e in &events {
        next.apply(e);
    }
    Ok((next, events.len()))
}

#[test]
fn a_partial_payment_holds_captures_and_a_refund_restores() {
    let c = activated("1000", false);
    let (c, _) = run(&c, &hold("h1", "300")).unwrap();
    assert_eq!((c.amount, c.available(now())), (d("1000"), d("700")));
    // More than is available is refused, with the numbers.
    let refused = run(&c, &hold("h2", "800")).unwrap_err();
    assert!(refused.contains("700 available"), "{refused}");
    // The same hold again changes nothing.
    assert_eq!(run(&c, &hold("h1", "300")).unwrap().1, 0);
    let capture = Command::Use(Use::Capture {
        hold_id: "h1".into(),
        now: now(),
    });
    let (c, n) = run(&c, &capture).unwrap();
    assert_eq!((n, c.amount, c.status), (1, d("700"), Status::Activated));
    assert_eq!(run(&c, &capture).unwrap().1, 0, "captured once");
    let restore = |id: &str, amount: &str| {
        Command::Use(Use::Restore {
            refund_id: id.into(),
            hold_id: "h1".into(),
            amount: d(amount),
        })
    };
    let (c, _) = run(&c, &restore("r1", "100")).unwrap();
    assert_eq!(c.amount, d("800"));
    assert_eq!(
        run(&c, &restore("r1", "100")).unwrap().1,
        0,
        "refunded once"
    );
    let too_much = run(&c, &restore("r2", "200.01")).unwrap_err();
    assert!(too_much.contains("200 of hold h1 left"), "{too_much}");
}

#[test]
fn spent_to_zero_or_one_time_it_is_redeemed_and_a_refund_activates_it_again() {
    let c = activated("500", true);
    let whole = run(&c, &hold("h1", "200")).unwrap_err();
    assert!(whole.contains("spent whole"), "{whole}");
    let (c, _) = run(&c, &hold("h1", "500")).unwrap();
    let (c, _) = run(
        &c,
        &Command::Use(Use::Capture {
            hold_id: "h1".into(),
            now: now(),
        }),
    )
    .unwrap();
    assert_eq!((c.status, c.amount), (Status::Redeemed, Decimal::ZERO));
    assert!(run(&c, &hold("h2", "1")).unwrap_err().contains("Redeemed"));
    let (c, _) = run(
        &c,
        &Command::Use(Use::Restore {
            refund_id: "r1".into(),
            hold_id: "h1".into(),
            amount: d("500"),
        }),
    )
    .unwrap();
    assert_eq!((c.status, c.amount), (Status::Activated, d("500")));
}

#[test]
fn a_release_gives_the_hold_back_and_past_its_date_it_pays_nothing() {
    let c = activated("100", false);
    let (c, _) = run(&c, &hold("h1", "60")).unwrap();
    let release = Command::Use(Use::Release {
        hold_id: "h1".into(),
    });
    let (c, _) = run(&c, &release).unwrap();
    assert_eq!(c.available(now()), d("100"));
    let capture_after = run(
        &c,
        &Command::Use(Use::Capture {
            hold_id: "h1".into(),
            now: now(),
        }),
    )
    .unwrap_err();
    assert!(capture_after.contains("settled"), "{capture_after}");
    // The released hold asked for again is not a repeat: it pays nothing.
    let again = run(&c, &hold("h1", "60")).unwrap_err();
    assert!(again.contains("settled"), "{again}");
    let late = Command::Use(Use::Hold {
        hold_id: "h2".into(),
        purchase_id: "p".into(),
        amount: d("1"),
        now: "2030-01-02T00:00:00Z".parse().unwrap(),
        lapses_at: None,
    });
    assert!(run(&c, &late).unwrap_err().contains("past its date"));
}

#[test]
fn a_lapsed_hold_holds_nothing_and_cannot_be_captured_only_released() {
    let c = activated("100", false);
    let (c, _) = run(&c, &hold("h1", "60")).unwrap();
    let later = now() + Duration::hours(1);
    assert_eq!(c.available(later - Duration::seconds(1)), d("40"));
    assert_eq!(c.available(later), d("100"), "lapsed at its time");
    // Its money pays another purchase.
    let other = Command::Use(Use::Hold {
        hold_id: "h2".into(),
        purchase_id: "p-h2".into(),
        amount: d("100"),
        now: later,
        lapses_at: None,
    });
    assert!(run(&c, &other).is_ok());
    let capture = Command::Use(Use::Capture {
        hold_id: "h1".into(),
        now: later,
    });
    let refused = run(&c, &capture).unwrap_err();
    assert!(refused.contains("lapsed"), "{refused}");
    // Nor does asking for it again revive it.
    let replay = Command::Use(Use::Hold {
        hold_id: "h1".into(),
        purchase_id: "p-h1".into(),
        amount: d("60"),
        now: later,
        lapses_at: Some(later + Duration::hours(1)),
    });
    let refused = run(&c, &replay).unwrap_err();
    assert!(refused.contains("lapsed"), "{refused}");
    let release = Command::Use(Use::Release {
        hold_id: "h1".into(),
    });
    let (c, n) = run(&c, &release).unwrap();
    assert_eq!((n, c.amount, c.available(later)), (1, d("100"), d("100")));
}

proptest! {
    /// Over any sequence of holds, captures, releases and refunds: the
    /// balance equals the start minus what was captured plus what was
    /// restored, the available never goes negative, and nothing is
    /// restored beyond what was captured; every event reads back from the
    /// log as it was written.
    #[test]
    fn money_is_conserved(ops in proptest::collection::vec((0u8..4, 0usize..4, 1u32..400), 1..40)) {
        let mut c = activated("1000", false);
        let (mut captured, mut restored) = (Decimal::ZERO, Decimal::ZERO);
        for (i, (op, h, cents)) in ops.into_iter().enumerate() {
            let hold_id = format!("h{h}");
            let amount = Decimal::new(i64::from(cents) * 100, 2);
            let command = match op {
                0 => hold(&hold_id, &amount.to_string()),
                1 => Command::Use(Use::Capture { hold_id: hold_id.clone(), now: now() }),
                2 => Command::Use(Use::Release { hold_id: hold_id.clone() }),
                _ => Command::Use(Use::Restore { refund_id: format!("r{i}"), hold_id: hold_id.clone(), amount }),
            };
            if let Ok(events) = c.decide(&command) {
                for e in &events {
                    // What the log stores reads back as it was.
                    prop_assert_eq!(&Event::decode(e.event_type(), &e.encode()).unwrap(), e);
                    if let Event::Used { used, .. } = e {
                        match used {
                            certificates::domain::redemption::Used::Captured { amount, .. } => captured += *amount,
                            certificates::domain::redemption::Used::Restored { amount, .. } => restored += *amount,
                            _ => {}
                        }
                    }
                    c.apply(e);
                }
            }
            prop_assert_eq!(c.amount, d("1000") - captured + restored);
            prop_assert!(c.available(now()) >= Decimal::ZERO);
            prop_assert!(restored <= captured);
        }
    }
}
