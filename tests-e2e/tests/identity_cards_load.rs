//! `identity cards load FILE --identity-url URL` against the real `identity`
//! binary: a stock file with comments, single numbers (one written with
//! spaces), ranges `FIRST-LAST` and `FIRST..LAST` and a number of the
//! default virtual range (7770000000000000-7779999999999999) loads every
//! physical number into the stock and rejects the virtual one (exit code 2);
//! loading it again finds them all known; a file with a bad line names the
//! line, exits non-zero and loads nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

use loyalty_proto::identity::v1 as pb;
use tests_e2e::identity::{Identity, lookup, masked};
use tests_e2e::identity_ops::{Ran, random_block, run_identity};
use tonic::Code;

/// A number of the default virtual range.
const VIRTUAL: &str = "7771234500000123";

async fn load(id: &Identity, file: &Path, dir: &Path) -> Ran {
    let args = [
        "cards".to_owned(),
        "load".to_owned(),
        file.to_str().expect("utf-8 path").to_owned(),
        "--identity-url".to_owned(),
        format!("http://127.0.0.1:{}", id.grpc_port),
    ];
    run_identity(&args, &[], dir).await
}

async fn physical_stock(id: &Identity) -> pb::CardCounts {
    id.cards()
        .get_card_stock(pb::GetCardStockRequest {})
        .await
        .expect("GetCardStock")
        .into_inner()
        .physical
        .expect("physical counts")
}

async fn unknown(id: &Identity, card: &str) -> bool {
    match id
        .cards()
        .lookup_card(pb::LookupCardRequest {
            card_number: card.to_owned(),
        })
        .await
    {
        Err(s) if s.code() == Code::NotFound => true,
        Err(s) => panic!("LookupCard({card}): {s:?}"),
        Ok(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_file_loads_its_numbers_once_and_rejects_virtual_ones() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &[], &[]).await;

    let (_, _, block) = random_block(16);
    let (single, spaced) = (&block[0], &block[1]);
    let (dash, dots) = (&block[3..13], &block[13..16]);
    let spaced_text = format!(
        "{} {} {} {}",
        &spaced[..4],
        &spaced[4..8],
        &spaced[8..12],
        &spaced[12..]
    );
    let text = format!(
        "# card stock delivered 2026-11\n\
         {single}\n\
         \n\
         {spaced_text}\n\
         # a box of ten\n\
         {}-{}\n\
         {}..{}\n\
         # printed by mistake in the virtual range\n\
         {VIRTUAL}\n",
        dash[0],
        dash[dash.len() - 1],
        dots[0],
        dots[dots.len() - 1],
    );
    let file = work.path().join("stock-2026-11.txt");
    std::fs::write(&file, text).unwrap();
    let loaded: Vec<&String> = [single, spaced]
        .into_iter()
        .chain(dash)
        .chain(dots)
        .collect();
    assert_eq!(loaded.len(), 15);

    // First run: 15 loaded, the virtual number rejected (exit code 2).
    let ran = load(&id, &file, work.path()).await;
    assert_eq!(ran.code, Some(2), "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "loaded 15, already known 0, rejected 1".to_owned(),
            format!("rejected {} (IN_VIRTUAL_RANGE)", masked(VIRTUAL)),
        ],
        "{ran:?}"
    );
    for card in &loaded {
        assert_eq!(
            lookup(&id, card).await,
            ("CARD_STATE_IN_STOCK", "CARD_KIND_PHYSICAL", String::new()),
            "{card}"
        );
    }
    assert!(
        unknown(&id, VIRTUAL).await,
        "the virtual number is not stocked"
    );
    assert!(unknown(&id, &block[2]).await, "a number not in the file");
    let stock = physical_stock(&id).await;
    assert_eq!((stock.in_stock, stock.bound, stock.blocked), (15, 0, 0));

    // Second run: everything already known, nothing changes.
    let ran = load(&id, &file, work.path()).await;
    assert_eq!(ran.code, Some(2), "the virtual number again: {ran:?}");
    assert_eq!(
        ran.stdout.lines().next(),
        Some("loaded 0, already known 15, rejected 1"),
        "{ran:?}"
    );
    assert_eq!(physical_stock(&id).await, stock);

    // Only known numbers: nothing rejected, exit code 0.
    let known = work.path().join("known.txt");
    std::fs::write(&known, format!("{single}\n{}-{}\n", dash[0], dash[9])).unwrap();
    let ran = load(&id, &known, work.path()).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(
        ran.stdout.trim_end(),
        "loaded 0, already known 11, rejected 0",
        "{ran:?}"
    );
    assert_eq!(physical_stock(&id).await, stock);
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_a_bad_line_names_it_and_loads_nothing() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &[], &[]).await;
    let (first, last, block) = random_block(5);
    let file = work.path().join("typo.txt");
    std::fs::write(
        &file,
        format!("# stock with a typo\n{}\n12ab\n{first}-{last}\n", block[0]),
    )
    .unwrap();

    let ran = load(&id, &file, work.path()).await;
    assert!(ran.code.is_some_and(|c| c != 0), "{ran:?}");
    assert!(ran.stderr.contains("line 3: not a card number"), "{ran:?}");
    assert!(!ran.stdout.contains("loaded"), "{ran:?}");
    for card in &block {
        assert!(unknown(&id, card).await, "{card} was loaded");
    }
    let stock = physical_stock(&id).await;
    assert_eq!((stock.in_stock, stock.bound, stock.blocked), (0, 0, 0));
    assert!(id.process.terminate().await.unwrap().success());
}
