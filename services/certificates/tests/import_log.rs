//! The importer over a real event log on disk: the seed's files give the
//! seed's states, a file imported twice changes nothing (no event
//! appended), refused lines are reported by line with their reasons, and
//! the seed-004 codes follow the outcomes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::Arc;

use certificates::app::import::{Importer, Outcome, Report};
use certificates::domain::certificate::Certificate;
use certificates::domain::issue::{IssueCreated, IssueSpec, TypeSpec};
use certificates::domain::status::Status;
use kit::aggregate::Repository;
use kit::log::EventLog;
use kit::report::{CODE_ALL_REFUSED, CODE_OK, CODE_ONE_REFUSED};
use rust_decimal::Decimal;
use tests_e2e::certificates::{FIRST, UPDATE};

fn issue() -> IssueCreated {
    IssueCreated {
        issue: IssueSpec {
            issue_id: "issue-1".into(),
            type_id: "free".into(),
            ..IssueSpec::default()
        },
        certificate_type: TypeSpec {
            type_id: "free".into(),
            currency: "RUB".into(),
            ..TypeSpec::default()
        },
    }
}

async fn run(importer: &Importer, job: &str, file: &str) -> (Report, Vec<(u64, Outcome)>) {
    let mut seen = Vec::new();
    let report = importer
        .import(job, &issue(), file.as_bytes(), |n, o| {
            seen.push((n, o.clone()))
        })
        .await
        .unwrap();
    (report, seen)
}

#[tokio::test]
async fn the_seeds_files_over_a_real_log_and_the_same_file_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let importer = Importer::new(Arc::clone(&log));

    let (report, seen) = run(&importer, "job-1", FIRST).await;
    assert_eq!((report.lines, report.created, report.refused), (4, 4, 0));
    assert_eq!(report.accepted_amount, Decimal::from(2000));
    assert_eq!(report.code(), CODE_OK);
    assert_eq!(seen.len(), 4);
    let head = log.head();

    // The same file again, under a new job: every line skipped, no
    // certificate or claim appended.
    let (again, _) = run(&importer, "job-2", FIRST).await;
    assert_eq!((again.unchanged, again.created, again.updated), (4, 0, 0));
    assert_eq!(
        log.head(),
        head + 1,
        "a file imported twice appends nothing but its job's ImportFinished"
    );

    let (update, _) = run(&importer, "job-3", UPDATE).await;
    assert_eq!((update.updated, update.refused), (2, 0));
    let certificates: Repository<Certificate> = Repository::new(Arc::clone(&log));
    let two = certificates
        .load("certificate/number/7770002105606220002")
        .unwrap()
        .0;
    assert_eq!((two.status, two.amount), (Status::Redeemed, Decimal::ZERO));
    let four = certificates
        .load("certificate/number/7770002105606220004")
        .unwrap()
        .0;
    assert_eq!(four.status, Status::Activated);

    // Found by its strip alone, from a reopened log.
    drop(importer);
    drop(certificates);
    drop(log);
    let log = EventLog::open(dir.path()).unwrap();
    let importer = Importer::new(Arc::clone(&log));
    let by_strip = "Strip2;Status;Amount\n7770002105606227847=26067229740000001;Activated;500\n";
    let (r, _) = run(&importer, "job-4", by_strip).await;
    assert_eq!(r.updated, 1);
}

#[tokio::test]
async fn refused_lines_are_reported_by_line_and_the_codes_follow() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let importer = Importer::new(Arc::clone(&log));
    let file = "Number;BarCode;Status;Amount\n\
                 A1;B1;Activated;10\n\
                 A2;B1;Activated;10\n\
                 A3;;Activating;10\n\
                 \n\
                 A4;;Activated;abc\n";
    let (report, seen) = run(&importer, "job-1", file).await;
    assert_eq!((report.lines, report.created, report.refused), (4, 1, 3));
    assert_eq!(report.code(), CODE_OK, "some lines were accepted");
    let reasons: Vec<(u64, String)> = seen
        .into_iter()
        .filter_map(|(n, o)| match o {
            Outcome::Refused(r) => Some((n, r)),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, 2);
    assert!(reasons[0].1.contains("Number differs"), "{reasons:?}");
    assert_eq!(reasons[1].0, 3);
    assert!(reasons[1].1.contains("unfinished process"), "{reasons:?}");
    assert_eq!(reasons[2].0, 4, "a blank line is not a line");
    assert!(reasons[2].1.contains("Amount"), "{reasons:?}");

    let (all, _) = run(&importer, "job-2", "Number;Status\nX1;Sold\nX2;Sold\n").await;
    assert_eq!(all.code(), CODE_ALL_REFUSED);
    let (one, _) = run(&importer, "job-3", "Number;Status\nX1;Sold\n").await;
    assert_eq!(one.code(), CODE_ONE_REFUSED);
    let bad = importer
        .import("job-4", &issue(), "Colour\n".as_bytes(), |_, _| {})
        .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn lines_of_one_certificate_apply_in_file_order_while_others_run_together() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let importer = Importer::new(Arc::clone(&log)).with_window(64);
    // Each certificate goes Prepared → Activated → Canceled within the
    // file, its lines interleaved with the others'; out of order, an
    // activation after the cancel would be refused.
    let mut file = String::from("Number;BarCode;Status;Amount\n");
    for status in ["Prepared", "Activated", "Canceled"] {
        for i in 0..40 {
            // The later lines name the certificate by its barcode only
            // (an empty Number): found through the claim of the first.
            if status == "Prepared" {
                file.push_str(&format!("N{i};B{i};{status};10\n"));
            } else {
                file.push_str(&format!(";B{i};{status};10\n"));
            }
        }
    }
    let (report, seen) = run(&importer, "job-1", &file).await;
    assert_eq!(
        (report.created, report.updated, report.refused),
        (40, 80, 0),
        "{:?}",
        seen.iter()
            .filter(|(_, o)| matches!(o, Outcome::Refused(_)))
            .collect::<Vec<_>>()
    );
    let lines: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        lines,
        (1..=120).collect::<Vec<_>>(),
        "outcomes come in file order"
    );
    let certificates: Repository<Certificate> = Repository::new(Arc::clone(&log));
    for i in 0..40 {
        let c = certificates
            .load(&format!("certificate/number/N{i}"))
            .unwrap()
            .0;
        assert_eq!(c.status, Status::Canceled, "N{i}");
    }
}

/// A file that arrives in parts, as a slow upload would: reads block
/// until the test sends more (or drops the sender: end of file).
struct Trickle(std::sync::mpsc::Receiver<Vec<u8>>, Vec<u8>);

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1.is_empty() {
            match self.0.recv() {
                Ok(more) => self.1 = more,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.1.len());
        buf[..n].copy_from_slice(&self.1[..n]);
        self.1.drain(..n);
        Ok(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_shows_its_progress_while_it_runs_and_its_report_once_finished() {
    use certificates::app::import::Job;
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let importer = Importer::new(Arc::clone(&log)).with_window(1);
    assert_eq!(importer.job("job-1").unwrap(), None);
    let (tx, rx) = std::sync::mpsc::channel();
    tx.send(b"Number;Status;Amount\nA1;Activated;10\nA2;Activated;20\nA3;Sold;1\n".to_vec())
        .unwrap();
    let running = importer.clone();
    let task = tokio::spawn(async move {
        running
            .import("job-1", &issue(), Trickle(rx, Vec::new()), |_, _| {})
            .await
    });
    let progress = tests_e2e::harness::eventually(
        std::time::Duration::from_secs(10),
        "three lines done",
        || async {
            match importer.job("job-1").unwrap() {
                Some(Job::Running(3)) => Some(3),
                _ => None,
            }
        },
    )
    .await;
    assert_eq!(progress, 3);
    // A second run of the same job meanwhile is refused.
    let again = importer
        .import("job-1", &issue(), "Number;Status\n".as_bytes(), |_, _| {})
        .await;
    assert!(again.is_err());
    drop(tx); // end of file
    task.await.unwrap().unwrap();
    let Some(Job::Finished(f)) = importer.job("job-1").unwrap() else {
        panic!("not finished");
    };
    assert_eq!((f.lines, f.created, f.refused), (3, 2, 1));
    assert_eq!(f.accepted_amount, Decimal::from(30));
    assert_eq!(f.errors.len(), 1);
    assert_eq!(f.errors[0].0, 3);
    // The report is in the log: a new importer over it finds it.
    drop(importer);
    let again = Importer::new(log);
    assert!(matches!(
        again.job("job-1").unwrap(),
        Some(Job::Finished(_))
    ));
}

#[tokio::test]
async fn the_issues_type_bounds_the_amount_and_says_one_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let importer = Importer::new(Arc::clone(&log));
    let fixed = IssueCreated {
        issue: IssueSpec {
            issue_id: "issue-2".into(),
            type_id: "fixed-1000-once".into(),
            ..IssueSpec::default()
        },
        certificate_type: TypeSpec {
            type_id: "fixed-1000-once".into(),
            fixed_value: Some(Decimal::from(1000)),
            one_time: true,
            currency: "RUB".into(),
            ..TypeSpec::default()
        },
    };
    let mut seen = Vec::new();
    let file = "Number;Status;Amount\nF1;Activated;1500\nF2;Activated;1000\nF3;Redeemed;1000\n";
    let report = importer
        .import("job-1", &fixed, file.as_bytes(), |n, o| {
            seen.push((n, o.clone()))
        })
        .await
        .unwrap();
    assert_eq!((report.created, report.refused), (2, 1), "{seen:?}");
    assert!(
        matches!(&seen[0].1, Outcome::Refused(r) if r.contains("above the face value 1000")),
        "{seen:?}"
    );
}
