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

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,20}",
        "(Prepared|Activated|Redeemed|Canceled|Redunded|Expired|Activating|x)",
        "[0-9]{1,9}([.,][0-9]{1,3})?",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]",
        ".{0,12}",
        Just(String::new()),
    ]
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
        fields in proptest::collection::vec(field(), 0..12),
        one_time in any::<bool>(),
    ) {
        let h = Header::parse(HEADER.split(';')).unwrap();
        let text = fields.join(";");
        if let Ok(line) = ImportLine::parse(&h, text.split(';')) {
            let command = Command::Import {
                certificate_id: certificate_id(&line.ids).unwrap(),
                line,
                issue: Issue { issue_id: "i".into(), one_time },
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
}
