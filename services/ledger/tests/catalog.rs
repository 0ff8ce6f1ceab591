//! Currencies and lifetime definitions as configuration: a catalog file at
//! start and `CatalogService.UpdateCatalog`, each change a `CatalogChanged`
//! event in the log, the catalog rebuilt from the log on restart; and the
//! operator's id on manual operations.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::sync::Arc;

use common::Ledger;
use common::requests::*;
use kit::aggregate::DomainEvent;
use kit::log::EventLog;
use ledger::domain::account::Event;
use ledger::domain::catalog::CatalogChanged;
use loyalty_proto::ledger::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

fn clock() -> ledger::grpc::Clock {
    Arc::new(chrono::Utc::now)
}

/// The built-in catalog plus `PTS` (whole points) and a 90-day lifetime.
fn with_points() -> pb::CatalogDefinition {
    let mut c = builtin();
    c.currencies.push(pb::CurrencyDefinition {
        id: "PTS".into(),
        precision: 0,
        max_amount: "1000000".into(),
    });
    c.lifetimes.push(pb::LifetimeDefinition {
        id: "90d".into(),
        rule: pb::LifetimeRule::Days as i32,
        days: 90,
    });
    c
}

fn builtin() -> pb::CatalogDefinition {
    ledger::events::catalog::definition(&ledger::domain::catalog::Catalog::builtin())
}

fn update(id: &str, catalog: pb::CatalogDefinition) -> pb::UpdateCatalogRequest {
    pb::UpdateCatalogRequest {
        request_id: id.into(),
        operator_id: "anna.k".into(),
        expected_version: None,
        catalog: Some(catalog),
    }
}

/// The catalog in effect.
async fn current(l: &mut Ledger) -> pb::GetCatalogResponse {
    let answer = l.catalog.get_catalog(pb::GetCatalogRequest {}).await;
    answer.unwrap().into_inner()
}

/// The answer to an update that is accepted.
async fn applied(l: &mut Ledger, r: pb::UpdateCatalogRequest) -> pb::UpdateCatalogResponse {
    l.catalog.update_catalog(r).await.unwrap().into_inner()
}

/// The status an accrual is refused with.
async fn accrual_refused(l: &mut Ledger, r: pb::AccrueRequest) -> tonic::Status {
    l.client.accrue(r).await.unwrap_err()
}

async fn refused(l: &mut Ledger, r: pb::UpdateCatalogRequest) -> tonic::Status {
    match l.catalog.update_catalog(r).await {
        Ok(answer) => panic!("accepted: {answer:?}"),
        Err(status) => status,
    }
}

fn accrue_in(op: &str, currency: &str, amount: &str, lifetime: &str) -> pb::AccrueRequest {
    let mut r = accrue(op, "m1", amount);
    r.amount = money(amount, currency);
    r.lifetime = lifetime.into();
    r
}

/// A catalog file with `text`, in a directory of its own.
fn catalog_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("catalog.toml");
    std::fs::write(&file, text).unwrap();
    (files, file)
}

/// Why a ledger on `dir` with the catalog file `path` does not start
/// (`what`: the file, for the panic when it does).
async fn start_fails(dir: tempfile::TempDir, path: &str, what: &str) -> String {
    match Ledger::start_in(dir, &["--catalog-file", path], clock()).await {
        Ok(_) => panic!("{what} was accepted"),
        Err(e) => format!("{e:#}"),
    }
}

/// Every event of `stream` in the log of a stopped ledger's data dir.
fn events_of(dir: &std::path::Path, stream: &str) -> Vec<kit::log::RecordedEvent> {
    let log = EventLog::open(dir.join("eventlog")).unwrap();
    let events = log.read_stream(stream, 0).unwrap();
    log.close();
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_programs_own_currency_and_lifetime_are_accepted_once_configured_and_after_a_restart() {
    let mut l = Ledger::start().await;
    let status = accrual_refused(&mut l, accrue_in("p1", "PTS", "15", "90d")).await;
    assert_eq!(status.code(), Code::InvalidArgument);

    let answer = applied(&mut l, update("c1", with_points())).await;
    assert_eq!((answer.version, answer.changed), (1, true));

    let result = accrued(&mut l.client, accrue_in("p1", "PTS", "15", "90d")).await;
    assert_eq!(result.amount, "15");
    // Whole points: a fraction is refused by the configured precision.
    let status = accrual_refused(&mut l, accrue_in("p2", "PTS", "1.5", "")).await;
    assert_eq!(status.code(), Code::InvalidArgument);

    // The catalog is rebuilt from the log: still version 1 after a restart.
    let dir = l.stop_keeping_data().await;
    let mut l = Ledger::start_in(dir, &[], clock()).await.unwrap();
    let current = current(&mut l).await;
    assert_eq!(current.version, 1);
    assert_eq!(current.catalog.unwrap(), answer.catalog.unwrap());
    l.client
        .accrue(accrue_in("p3", "PTS", "5", "90d"))
        .await
        .unwrap();
    let dir = l.stop_keeping_data().await;

    // The change is an event naming its operator; the accrual's bucket
    // carries the configured lifetime.
    let changes = events_of(dir.path(), "catalog");
    assert_eq!(changes.len(), 1);
    let changed = CatalogChanged::decode(&changes[0].event_type, &changes[0].payload).unwrap();
    assert_eq!(
        (changed.version, changed.operator_id.as_str()),
        (1, "anna.k")
    );
    let accrued = events_of(dir.path(), "account/m1/PTS");
    let Event::Accrued { bucket, .. } =
        Event::decode(&accrued[0].event_type, &accrued[0].payload).unwrap()
    else {
        panic!("not an accrual")
    };
    assert_eq!(bucket.lifetime, "90d");
    let days = (bucket.expires_at.unwrap() - accrued[0].time).num_days();
    assert!((89..=90).contains(&days), "{days}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_file_is_recorded_once_and_may_not_remove_a_currency() {
    let (_files, file) = catalog_file(
        r#"
default_currency = "BONUS"
default_lifetime = "1y"

[[currency]]
id = "BONUS"
precision = 2

[[currency]]
id = "RUB"
precision = 2

[[currency]]
id = "EUR"
precision = 2

[[currency]]
id = "MILES"
precision = 0
max_amount = "500000"

[[lifetime]]
id = "1y"
rule = "days"
days = 365

[[lifetime]]
id = "eom+30"
rule = "end_of_month_plus_days"
days = 30
"#,
    );
    let path = file.to_str().unwrap();
    let mut l = Ledger::start_with(&["--catalog-file", path]).await;
    let current = current(&mut l).await;
    assert_eq!(current.version, 1);
    assert_eq!(current.catalog.unwrap().default_lifetime, "1y");
    // The file's bound: above it is refused.
    let status = accrual_refused(&mut l, accrue_in("m1", "MILES", "500001", "")).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    l.client
        .accrue(accrue_in("m2", "MILES", "500000", ""))
        .await
        .unwrap();

    // The same file again records nothing.
    let dir = l.stop_keeping_data().await;
    let l = Ledger::start_in(dir, &["--catalog-file", path], clock())
        .await
        .unwrap();
    let dir = l.stop_keeping_data().await;
    assert_eq!(events_of(dir.path(), "catalog").len(), 1);

    // A file that drops MILES (accounts hold it) stops the start.
    let text = std::fs::read_to_string(&file).unwrap();
    let without = text.replace("id = \"MILES\"", "id = \"KM\"");
    std::fs::write(&file, without).unwrap();
    let err = start_fails(dir, path, "a file removing a currency").await;
    assert!(err.contains("MILES cannot be removed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_catalog_file_names_every_fault() {
    let (_files, file) = catalog_file(
        "default_currency = \"USD\"\ndefault_lifetime = \"x\"\n\
         [[currency]]\nid = \"BONUS\"\nprecision = 12\n\
         [[lifetime]]\nid = \"x\"\nrule = \"days\"\ndays = 0\n",
    );
    let path = file.to_str().unwrap();
    let err = start_fails(tempfile::tempdir().unwrap(), path, "a bad catalog file").await;
    for field in [
        "currencies[0].precision",
        "lifetimes[0].days",
        "default_currency",
    ] {
        assert!(err.contains(field), "{field} in {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_follow_the_rules_and_answer_a_retry_with_the_first_outcome() {
    let mut l = Ledger::start().await;
    // Bad input names the field, with the catalog's path.
    let mut bad = builtin();
    bad.currencies[1].precision = 40;
    let status = refused(&mut l, update("c0", bad)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "catalog.currencies[1].precision");
    let mut anonymous = update("c0", builtin());
    anonymous.operator_id.clear();
    let status = refused(&mut l, anonymous).await;
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "operator_id"
    );

    // Precision may grow, never shrink.
    let mut finer = builtin();
    finer.currencies[0].precision = 3; // BONUS
    let first = applied(&mut l, update("c1", finer.clone())).await;
    assert_eq!(first.version, 1);
    let status = refused(&mut l, update("c2", builtin())).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "PRECISION_DECREASED"
    );
    // A currency cannot be removed.
    let mut fewer = finer.clone();
    fewer.currencies.retain(|c| c.id != "EUR");
    let status = refused(&mut l, update("c3", fewer)).await;
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "CURRENCY_REMOVED"
    );
    // A stale version is ABORTED.
    let mut stale = update("c4", with_points());
    stale.expected_version = Some(0);
    let status = refused(&mut l, stale).await;
    assert_eq!(status.code(), Code::Aborted);

    // Same id, same request: the first answer, nothing new.
    let again = applied(&mut l, update("c1", finer)).await;
    assert_eq!(again, first);
    // A refusal is stored too: c2 stays refused.
    let status = refused(&mut l, update("c2", builtin())).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    // Same id, another request.
    let status = refused(&mut l, update("c1", with_points())).await;
    assert_eq!(status.code(), Code::AlreadyExists);

    // The finer precision is in effect.
    let result = accrued(&mut l.client, accrue("a1", "m1", "1.125")).await;
    assert_eq!(result.amount, "1.125");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rebuilt_from_the_log_renders_each_row_with_the_precision_of_its_time() {
    let mut l = Ledger::start().await;
    l.client.accrue(accrue("a1", "m1", "10")).await.unwrap();
    let mut finer = builtin();
    finer.currencies[0].precision = 3;
    l.catalog.update_catalog(update("c1", finer)).await.unwrap();
    l.client.accrue(accrue("a2", "m1", "1.5")).await.unwrap();
    let history = |mut client: pb::ledger_service_client::LedgerServiceClient<_>| async move {
        let tomorrow = Some((chrono::Utc::now() + chrono::Duration::days(1)).into());
        let rows = history_of(&mut client, history_request("m1", tomorrow, 10))
            .await
            .rows;
        format!("{rows:?}")
    };
    let live = history(l.client.clone()).await;
    assert!(live.contains("\"10.00\""), "{live}");
    assert!(live.contains("\"1.500\""), "{live}");
    let dir = l.stop_keeping_data().await;

    // `ledger verify` replays the log into fresh projections: identical.
    let args = common::parse_args(["ledger", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(ledger::verify(&args).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_operation_names_its_operator_and_the_event_keeps_it() {
    let mut l = Ledger::start().await;
    let mut manual = accrue("m-1", "m1", "5");
    manual.kind = pb::OperationKind::Manual as i32;
    let status = l.client.accrue(manual.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "context.operator_id"
    );
    let mut withdrawal = withdraw("m-2", "m1", "1");
    withdrawal.kind = pb::OperationKind::Manual as i32;
    let status = l.client.withdraw(withdrawal.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let operator = |r: &mut Option<pb::OperationContext>| {
        r.get_or_insert_with(Default::default).operator_id = "emp-042".into();
    };
    operator(&mut manual.context);
    operator(&mut withdrawal.context);
    l.client.accrue(manual).await.unwrap();
    l.client.withdraw(withdrawal).await.unwrap();
    let dir = l.stop_keeping_data().await;
    let events = events_of(dir.path(), "account/m1/BONUS");
    let operators: Vec<String> = events
        .iter()
        .map(
            |e| match Event::decode(&e.event_type, &e.payload).unwrap() {
                Event::Accrued { context, .. } | Event::Withdrawn { context, .. } => {
                    context.operator_id
                }
                other => panic!("unexpected {other:?}"),
            },
        )
        .collect();
    assert_eq!(operators, ["emp-042", "emp-042"]);
}
