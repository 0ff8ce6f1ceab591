//! Expiry on the domain: a Prepared or Activated certificate expires once
//! its expiration date has passed, exactly once; a final one never.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use certificates::domain::certificate::{Certificate, Command, Event, Issue, Source};
use certificates::domain::identifiers::certificate_id;
use certificates::domain::line::{Header, ImportLine};
use certificates::domain::status::Status;
use chrono::NaiveDate;
use kit::aggregate::{Aggregate, given_when};

fn imported(status: &str) -> Vec<Event> {
    let h = Header::parse("Number;Status;Amount;ExpirationDate".split(';')).unwrap();
    let line = ImportLine::parse(&h, format!("N1;{status};100;2023-11-25").split(';')).unwrap();
    let command = Command::Import {
        certificate_id: certificate_id(&line.ids).unwrap(),
        line,
        issue: Issue::default(),
        fixed_value: None,
        source: Source::default(),
    };
    Certificate::default().decide(&command).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn a_live_certificate_expires_once_the_day_after_its_expiration_date() {
    for status in ["Prepared", "Activated"] {
        let given = imported(status);
        let on_the_day = Command::Expire {
            today: day("2023-11-25"),
        };
        assert_eq!(
            given_when::<Certificate>(&given, &on_the_day),
            Ok(Vec::new())
        );
        let after = Command::Expire {
            today: day("2023-11-26"),
        };
        let expired = given_when::<Certificate>(&given, &after).unwrap();
        assert!(
            matches!(&expired[..], [Event::Expired { amount, .. }] if amount.to_string() == "100"),
            "{expired:?}"
        );
        let mut all = given.clone();
        all.extend(expired);
        let c: Certificate = kit::aggregate::replay(&all);
        assert_eq!(c.status, Status::Expired);
        assert_eq!(c.expires_on(), None);
        assert_eq!(
            given_when::<Certificate>(&all, &after),
            Ok(Vec::new()),
            "once"
        );
    }
    let redeemed = imported("Canceled");
    assert_eq!(
        given_when::<Certificate>(
            &redeemed,
            &Command::Expire {
                today: day("2030-01-01")
            }
        ),
        Ok(Vec::new())
    );
}
