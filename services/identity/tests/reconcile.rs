//! The reconciler finishes a card binding a crash left half done: the card's
//! stream says it is bound to the member, the member's stream does not list
//! it yet. Runs on the real event log on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::sync::Arc;

use clap::Parser;
use common::append;
use identity::app::{Identity, LoadCards, LoadedCards};
use identity::config::IdentityArgs;
use identity::domain::event as ev;
use identity::domain::model::CardKind;
use identity::events::Event;
use kit::log::EventLog;
use kit::log::ExpectedVersion::Exact;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: IdentityArgs,
}

fn identity(dir: &std::path::Path) -> (Identity, Arc<EventLog>) {
    let data = dir.to_str().unwrap();
    let args = Cli::parse_from(["identity", "--data-dir", data]).args;
    let settings = identity::settings(&args).unwrap();
    let log = EventLog::open(args.service.log_dir()).unwrap();
    let secrets = identity::secrets::Secrets::load_or_create(&args.secret_path()).unwrap();
    let notifier = Arc::new(notify::Notifier::local(dir.join("sink.jsonl")).unwrap());
    let clock: identity::app::Clock = Arc::new(chrono::Utc::now);
    let id = Identity::new(Arc::clone(&log), secrets, notifier, settings, clock);
    (id, log)
}

fn events_of(log: &EventLog, stream: &str) -> Vec<String> {
    log.read_stream(stream, 0)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type.rsplit('.').next().unwrap().to_owned())
        .collect()
}

/// Loads `cards` into the stock.
async fn load(id: &Identity, cards: &[&str]) -> LoadedCards {
    let request = LoadCards {
        card_numbers: cards.iter().map(|c| c.to_string()).collect(),
        ranges: vec![],
    };
    id.load_cards(&request).await.unwrap()
}

#[tokio::test]
async fn a_card_bound_on_its_stream_only_is_listed_on_the_member_once() {
    let dir = tempfile::tempdir().unwrap();
    let (id, log) = identity(dir.path());
    // A registration by card (its login card is bound the normal way).
    let (login, card) = ("5000000000000076", "5000000000000077");
    let loaded = load(&id, &[login, card]).await;
    assert_eq!(loaded.loaded, 2);
    let begun = id.begin(login, "").await.unwrap();
    let member_id = begun.member_id;
    let bound = vec![(login.to_owned(), CardKind::Physical)];
    assert_eq!(id.member(&member_id).unwrap().cards, bound);

    // The crash: the card's stream got its CardAssigned, the member's nothing.
    let assigned = Event::CardAssigned(ev::CardAssigned {
        member_id: member_id.clone(),
    });
    append(&log, &format!("card/{card}"), Exact(1), assigned).await;
    assert_eq!(id.member(&member_id).unwrap().cards, bound);

    // The reconciler catches up from the start of the log.
    while identity::reconcile::catch_up(&id, &log).await.unwrap() > 0 {}
    let member = id.member(&member_id).unwrap();
    assert_eq!(
        member.cards,
        vec![
            (login.to_owned(), CardKind::Physical),
            (card.to_owned(), CardKind::Physical)
        ]
    );
    let member_events = events_of(&log, &format!("member/{member_id}"));
    let count = |t: &str| member_events.iter().filter(|e| *e == t).count();
    assert_eq!(count("MemberCardAdded"), 2, "{member_events:?}");
    assert_eq!(count("CardBound"), 2, "{member_events:?}");

    // Running it again over the same log changes nothing; a new reconciler
    // (a restart) resumes from its checkpoint.
    let head = log.head();
    assert_eq!(identity::reconcile::catch_up(&id, &log).await.unwrap(), 0);
    let card2 = "5000000000000078";
    load(&id, &[card2]).await;
    assert!(log.head() > head);
    while identity::reconcile::catch_up(&id, &log).await.unwrap() > 0 {}
    assert_eq!(
        events_of(&log, &format!("member/{member_id}")),
        member_events,
        "a card in stock binds nobody"
    );
}

#[tokio::test]
async fn links_whose_claims_are_written_are_finished_on_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let (id, log) = identity(dir.path());
    let login = "5000000000000090";
    load(&id, &[login]).await;
    let member_id = id.begin(login, "").await.unwrap().member_id;

    // The crash: claims written, the member's stream not.
    let social = Event::SocialClaimed(ev::SocialClaimed {
        member_id: member_id.clone(),
    });
    append(&log, "social/vk/id12345", Exact(0), social).await;
    let bank = ev::BankCardClaimed {
        member_id: member_id.clone(),
        binding_id: "bnd-1".into(),
        last4: "4242".into(),
    };
    append(
        &log,
        "bankcard/00ff",
        Exact(0),
        Event::BankCardClaimed(bank),
    )
    .await;
    let before = id.member(&member_id).unwrap();
    assert!(before.social.is_empty() && before.bank_cards.is_empty());
    let by_binding = identity::app::BankCardKey::BindingId("bnd-1".into());
    assert!(id.find_by_bank_card(&by_binding).is_err());

    while identity::reconcile::catch_up(&id, &log).await.unwrap() > 0 {}
    let after = id.member(&member_id).unwrap();
    assert_eq!(after.social, vec![("vk".to_owned(), "id12345".to_owned())]);
    assert_eq!(
        after.bank_cards,
        vec![("bnd-1".to_owned(), "4242".to_owned())]
    );
    let (holder, card) = id.find_by_bank_card(&by_binding).unwrap();
    assert_eq!(
        (holder.as_str(), card.last4.as_str()),
        (member_id.as_str(), "4242")
    );
}
