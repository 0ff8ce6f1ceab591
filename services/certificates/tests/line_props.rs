//! Property tests: the import-line parser takes any bytes without panicking,
//! and a line it accepts survives the log (its events decode to what was
//! encoded).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use certificates::domain::certificate::{Certificate, Command, Event, Issue, Source};
use certificates::domain::identifiers::certificate_id;
use certificates::domain::line::{Header, ImportLine};
use kit::aggregate::{Aggregate, DomainEvent};
use proptest::prelude::*;

const HEADER: &str = "Number;BarCode;Strip1;Strip2;Strip3;QRcode;Status;Amount;ActivationDate;ExpirationDate;RedemptionDate";

/// A line every rule of the parser accepts, in [`HEADER`]'s order.
fn valid_line() -> impl Strategy<Value = String> {
    let id = "[0-9]{1,19}";
    let maybe = prop_oneof![Just(String::new()), "[0-9A-Z=]{1,30}"];
    let date = prop_oneof![Just(String::new()), "20[0-4][0-9]-0[1-9]-[0-2][1-8]"];
    (
        id,
        maybe.clone(),
        maybe.clone(),
        maybe.clone(),
        maybe,
        "(Prepared|Activated|Redeemed|Canceled|Redunded|Expired|activated)",
        "[0-9]{1,8}([.,][0-9]{1,2})?",
        date.clone(),
        date.clone(),
        date,
    )
        .prop_map(|(n, b, s1, s2, q, st, a, ad, ed, rd)| {
            [n, b, s1, s2, String::new(), q, st, a, ad, ed, rd].join(";")
        })
}

proptest! {
    #[test]
    fn any_line_parses_or_is_refused_without_panic(header in ".{0,80}", line in ".{0,200}") {
        if let Ok(h) = Header::parse(header.split(';')) {
            let _ = ImportLine::parse(&h, line.split(';'));
        }
        let h = Header::parse(HEADER.split(';')).unwrap();
        let _ = ImportLine::parse(&h, line.split(';'));
    }

    #[test]
    fn accepted_lines_make_events_that_decode_to_themselves(
        text in valid_line(),
        one_time in any::<bool>(),
    ) {
        let h = Header::parse(HEADER.split(';')).unwrap();
        let parsed = ImportLine::parse(&h, text.split(';'));
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        let line = parsed.unwrap();
        let command = Command::Import {
            certificate_id: certificate_id(&line.ids).unwrap(),
            line,
            issue: Issue { issue_id: "i".into(), one_time, currency: "RUB".into() },
            fixed_value: None,
            source: Source { import_id: "j".into(), line: 7 },
        };
        if let Ok(events) = Certificate::default().decide(&command) {
            for e in events {
                let back = Event::decode(e.event_type(), &e.encode()).unwrap();
                prop_assert_eq!(back, e);
            }
        }
    }
}
