//! The import rules of seed 000 on the domain alone: the seed's two files
//! give the seed's states and balances, the same file twice changes
//! nothing, and every rule has a line that breaks it with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashMap;

use certificates::domain::certificate::{Certificate, Command, Issue, Source};
use certificates::domain::identifiers::{IdKind, certificate_id};
use certificates::domain::line::{Header, HeaderError, ImportLine, LineError};
use certificates::domain::status::{Status, StatusError};
use kit::aggregate::Aggregate;
use rust_decimal::Decimal;
use tests_e2e::certificates::{FIRST, UPDATE};

/// What one line did.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    Unchanged,
    Refused(String),
}

/// Certificates in memory, found by any identifier: the rules of the
/// import without the log.
#[derive(Default)]
struct Book {
    certificates: HashMap<String, Certificate>,
    index: HashMap<(IdKind, String), String>,
}

impl Book {
    fn import(&mut self, file: &str, issue: &Issue) -> Vec<Outcome> {
        let mut lines = file.lines();
        let header = Header::parse(lines.next().unwrap().split(';')).unwrap();
        lines
            .enumerate()
            .map(|(i, text)| {
                let line = match ImportLine::parse(&header, text.split(';')) {
                    Ok(l) => l,
                    Err(e) => return Outcome::Refused(e.to_string()),
                };
                let found: Vec<&String> = line
                    .ids
                    .iter()
                    .filter_map(|(k, v)| self.index.get(&(k, v.to_owned())))
                    .collect();
                let id = match found.first() {
                    Some(id) if found.iter().any(|f| f != id) => {
                        return Outcome::Refused("identifiers of two certificates".into());
                    }
                    Some(id) => (*id).clone(),
                    None => certificate_id(&line.ids).unwrap(),
                };
                let state = self.certificates.get(&id).cloned().unwrap_or_default();
                let command = Command::Import {
                    certificate_id: id.clone(),
                    line,
                    issue: issue.clone(),
                    fixed_value: None,
                    source: Source {
                        import_id: "job-1".into(),
                        line: i as u64 + 1,
                    },
                };
                match state.decide(&command) {
                    Err(e) => Outcome::Refused(e.to_string()),
                    Ok(events) if events.is_empty() => Outcome::Unchanged,
                    Ok(events) => {
                        let mut next = state.clone();
                        for e in &events {
                            next.apply(e);
                        }
                        for (k, v) in next.ids.iter() {
                            self.index.insert((k, v.to_owned()), id.clone());
                        }
                        self.certificates.insert(id, next);
                        if state.id.is_empty() {
                            Outcome::Created
                        } else {
                            Outcome::Updated
                        }
                    }
                }
            })
            .collect()
    }

    fn by_number(&self, number: &str) -> &Certificate {
        let id = &self.index[&(IdKind::Number, number.to_owned())];
        &self.certificates[id]
    }
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn multi_use() -> Issue {
    Issue {
        issue_id: "issue-1".into(),
        one_time: false,
        currency: "RUB".into(),
    }
}

#[test]
fn the_seeds_two_files_give_the_seeds_states_and_the_same_file_twice_changes_nothing() {
    let mut book = Book::default();
    let first = book.import(FIRST, &multi_use());
    assert_eq!(
        first,
        [
            Outcome::Created,
            Outcome::Created,
            Outcome::Created,
            Outcome::Created
        ]
    );
    let c = book.by_number("7770002105606220004");
    assert_eq!((c.status, c.amount), (Status::Prepared, d("1000")));
    assert_eq!(
        c.ids.get(IdKind::Strip2),
        Some("7770002105606227850=26067229740000004")
    );
    // The seed's restart rule: lines loaded before are skipped.
    let again = book.import(FIRST, &multi_use());
    assert!(again.iter().all(|o| *o == Outcome::Unchanged), "{again:?}");

    let update = book.import(UPDATE, &multi_use());
    assert_eq!(update, [Outcome::Updated, Outcome::Updated]);
    let two = book.by_number("7770002105606220002");
    assert_eq!((two.status, two.amount), (Status::Redeemed, Decimal::ZERO));
    assert_eq!(
        two.dates.redemption.map(|d| d.to_string()).as_deref(),
        Some("2022-12-12")
    );
    let four = book.by_number("7770002105606220004");
    assert_eq!((four.status, four.amount), (Status::Activated, d("1000")));
    // The others are as the first file left them.
    let one = book.by_number("7770002105606220001");
    assert_eq!((one.status, one.amount), (Status::Activated, d("555")));
    assert_eq!(
        book.import(UPDATE, &multi_use()),
        [Outcome::Unchanged, Outcome::Unchanged]
    );
}

#[test]
fn any_one_identifier_finds_the_certificate() {
    let mut book = Book::default();
    book.import(FIRST, &multi_use());
    let by_strip = "Strip2;Status;Amount\n7770002105606227847=26067229740000001;Activated;500,50\n";
    assert_eq!(book.import(by_strip, &multi_use()), [Outcome::Updated]);
    assert_eq!(book.by_number("7770002105606220001").amount, d("500.50"));
    // A new identifier for a known certificate is added to it.
    let qr = "BarCode;QRcode;Status\n7770002105606220001;QR-1;Activated\n";
    assert_eq!(book.import(qr, &multi_use()), [Outcome::Updated]);
    let c = book.by_number("7770002105606220001");
    assert_eq!(c.ids.get(IdKind::QrCode), Some("QR-1"));
}

fn refusal(book: &mut Book, file: &str, issue: &Issue) -> String {
    match book.import(file, issue).pop().unwrap() {
        Outcome::Refused(reason) => reason,
        other => panic!("{other:?}: not refused"),
    }
}

#[test]
fn every_rule_refuses_the_line_that_breaks_it_with_its_reason() {
    let mut book = Book::default();
    book.import(FIRST, &multi_use());
    let head = "Number;Status;Amount;ActivationDate;ExpirationDate\n";
    let cases: [(&str, &str); 10] = [
        ("N1;Activating;10;;", "unfinished process"),
        ("N1;Refunding;10;;", "unfinished process"),
        ("N1;Sold;10;;", "unknown status"),
        (
            "N1;Redeemed;10;;",
            "only for a one-time certificate or with Amount 0",
        ),
        ("N1;Activated;;;", "needs its Amount"),
        ("N1;Activated;100000000.01;;", "Amount"),
        ("N1;Activated;1.005;;", "Amount"),
        ("N1;Activated;-1;;", "Amount"),
        (
            "N1;Activated;10;2024-01-02;2024-01-01",
            "after ExpirationDate",
        ),
        ("N1;Activated;10;02.01.2024;", "YYYY-MM-DD"),
    ];
    for (line, reason) in cases {
        let got = refusal(&mut book, &format!("{head}{line}\n"), &multi_use());
        assert!(got.contains(reason), "{line}: {got:?} lacks {reason:?}");
    }
    // A one-time certificate may be imported Redeemed with a balance.
    let one_time = Issue {
        issue_id: "issue-2".into(),
        one_time: true,
        currency: "RUB".into(),
    };
    assert_eq!(
        book.import(&format!("{head}N2;Redeemed;10;;\n"), &one_time),
        [Outcome::Created]
    );
    // Illegal moves of known certificates.
    let got = refusal(
        &mut book,
        &format!("{head}7770002105606220004;Redeemed;0;;\n"),
        &multi_use(),
    );
    assert!(
        got.contains("is Prepared: it cannot become Redeemed"),
        "{got}"
    );
    let got = refusal(
        &mut book,
        &format!("{head}7770002105606220001;Prepared;555;;\n"),
        &multi_use(),
    );
    assert!(got.contains("cannot become Prepared"), "{got}");
    // A final state stays as it is.
    book.import(
        &format!("{head}7770002105606220003;Canceled;100;;\n"),
        &multi_use(),
    );
    let got = refusal(
        &mut book,
        &format!("{head}7770002105606220003;Canceled;50;;\n"),
        &multi_use(),
    );
    assert!(got.contains("no longer change"), "{got}");
    // An identifier that contradicts the certificate's.
    let got = refusal(
        &mut book,
        "Number;BarCode;Status\n7770002105606220001;999;Activated\n",
        &multi_use(),
    );
    assert!(got.contains("BarCode differs"), "{got}");
}

#[test]
fn headers_must_name_known_columns_an_identifier_and_the_status() {
    assert!(matches!(
        Header::parse("Number;Colour;Status".split(';')),
        Err(HeaderError::Unknown(_))
    ));
    assert_eq!(
        Header::parse("Status;Amount".split(';')),
        Err(HeaderError::NoIdentifier)
    );
    assert_eq!(
        Header::parse("Number;Amount".split(';')),
        Err(HeaderError::NoStatus)
    );
    assert!(matches!(
        Header::parse("Number;number;Status".split(';')),
        Err(HeaderError::Twice(_))
    ));
    let h = Header::parse("number;STATUS".split(';')).unwrap();
    assert_eq!(
        ImportLine::parse(&h, "N1;Activated;extra".split(';')),
        Err(LineError::FieldCount {
            expected: 2,
            found: 3
        })
    );
    assert_eq!(
        ImportLine::parse(&h, ";Activated".split(';')),
        Err(LineError::NoIdentifier)
    );
    assert_eq!(
        ImportLine::parse(&h, "N1;Returning".split(';')),
        Err(LineError::Status(StatusError::Incomplete(
            "Returning".into()
        )))
    );
}
