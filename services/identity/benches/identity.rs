//! Identity benchmark (`scripts/bench.sh identity`): prints figures, asserts nothing.
//!
//! One identity service runs in-process on a fresh data dir under the target
//! dir, with its outbox publishing to a `nats-server -js` from
//! `NATS_SERVER_BIN` (without one the events stay in the log) and its SMS
//! sent with the HTTP SMS provider to a small axum server inside the bench,
//! which keeps each confirm code by phone. Clients share
//! `IDENTITY_BENCH_CHANNELS` (16) gRPC connections.
//!
//! 1. `LoadCards` of one range of `IDENTITY_BENCH_CARDS` (100 000) physical
//!    cards (at least one per registration): how long it takes, cards/s.
//! 2. Whole registrations by phone per second: `IDENTITY_BENCH_CLIENTS` (32)
//!    concurrent clients walk `IDENTITY_BENCH_REGISTRATIONS` (2 000) of them
//!    through the seed's steps with the default flags (EmitVirtualCard=1,
//!    MainCardAssigningRequired=1, optional e-mail, default questionnaire):
//!    BeginRegistration with a new phone, GetActions, AcceptTenderOffer,
//!    ConfirmPhoneNumber with the code the SMS provider received, SetPassword
//!    (argon2id), GetQuestions + SetAnswers, SetCard with a stocked card,
//!    EmitVirtual and TryFinishRegistration; p50/p99 of one whole registration.
//! 3. `Authenticate` over the tokens of step 2 with
//!    `IDENTITY_BENCH_AUTH_CLIENTS` (64) clients for `IDENTITY_BENCH_SECONDS`
//!    (10): calls/s, p50/p99.
//! 4. `LookupCard` of random cards of the loaded range (the ones of step 2
//!    are bound to members) with `IDENTITY_BENCH_LOOKUP_CLIENTS` (64)
//!    clients for `IDENTITY_BENCH_SECONDS`: calls/s, p50/p99.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use identity::config::IdentityArgs;
use kit::bench::{Figures, env};
use kit::service::InProcess;
use loyalty_proto::identity::v1 as pb;
use loyalty_proto::identity::v1::auth_service_client::AuthServiceClient;
use loyalty_proto::identity::v1::card_service_client::CardServiceClient;
use loyalty_proto::identity::v1::registration_service_client::RegistrationServiceClient;
use rand::Rng;
use tonic::transport::Channel;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The first card number of the loaded range (outside the virtual range 777…).
const FIRST_CARD: u64 = 5_000_000_000_000_000;

/// The identity service's flags, parsed like its binary parses them.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: IdentityArgs,
}

/// `<target dir>/identity-bench`.
fn bench_root() -> PathBuf {
    kit::bench::root("identity-bench")
}

/// Messages in the `LOYALTY` stream of the server at `url` now (0 before
/// the outbox made it).
async fn stream_messages(url: &str) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let Ok(mut stream) = js.get_stream("LOYALTY").await else {
        return 0;
    };
    stream.info().await.map_or(0, |i| i.state.messages)
}

/// Confirm codes the SMS provider received, by phone (the newest one).
type Codes = Arc<Mutex<HashMap<String, String>>>;

/// The body the HTTP SMS provider POSTs with the default template.
#[derive(serde::Deserialize)]
struct Sms {
    to: String,
    text: String,
}

/// An SMS provider on a free port speaking the notifier's default protocol
/// (`POST {"to": …, "text": …}`); keeps the code of each confirm-code text.
async fn sms_provider() -> (SocketAddr, Codes) {
    let codes = Codes::default();
    let kept = Arc::clone(&codes);
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(sms): axum::Json<Sms>| {
            let kept = Arc::clone(&kept);
            async move {
                if let Some((_, code)) = sms.text.rsplit_once(": ") {
                    kept.lock().unwrap().insert(sms.to, code.trim().to_owned());
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, codes)
}

/// The code sent to `phone` (delivery is part of BeginRegistration, so it is
/// normally there at once); fails after 30 s.
async fn take_code(codes: &Codes, phone: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = codes.lock().unwrap().remove(phone) {
            return code;
        }
        assert!(Instant::now() < deadline, "no confirm code for {phone}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The identity service served in-process on a fresh data dir.
struct Server {
    service: InProcess,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts it with SMS to `sms` and events to `nats_url` when given.
    async fn start(root: &Path, sms: SocketAddr, nats_url: Option<&str>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("identity-")
            .tempdir_in(root)
            .unwrap();
        let sms_url = format!("http://{sms}/sms");
        let mut flags = vec![
            "identity",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--sms-provider",
            "http",
            "--sms-http-url",
            &sms_url,
        ];
        if let Some(url) = nats_url {
            flags.extend(["--nats-url", url]);
        }
        let args = Cli::parse_from(flags).args;
        args.validate().expect("valid identity flags");
        let service = InProcess::start(&identity::SPEC, |grpc, metrics, shutdown| {
            identity::run(args, grpc, metrics, shutdown, Arc::new(chrono::Utc::now))
        })
        .await
        .unwrap();
        Self { service, _dir: dir }
    }
}

/// `message` with `authorization: Bearer <token>`.
fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// A typed answer to question `id`.
fn typed(id: i64, value: &str) -> pb::Answer {
    pb::Answer {
        group_id: None,
        id,
        value: value.to_owned(),
        selected: false,
    }
}

/// What a client answers (as the e2e harness does): a name for text, an
/// adult's birth date for dates, the first option of choices.
fn answers_for(nodes: &[pb::QuestionNode], out: &mut Vec<pb::Answer>) {
    let answer = pb::NodeType::Answer as i32;
    for n in nodes {
        if n.node_type == pb::NodeType::Question as i32
            && let Some(id) = n.id
        {
            match pb::FieldType::try_from(n.field_type) {
                Ok(pb::FieldType::Radio | pb::FieldType::Checkbox) => {
                    let option = n.children.iter().find(|c| c.node_type == answer);
                    out.extend(option.and_then(|o| o.id).map(|option| pb::Answer {
                        group_id: Some(id),
                        id: option,
                        value: String::new(),
                        selected: true,
                    }));
                }
                Ok(pb::FieldType::Date) => out.push(typed(id, "1990-05-01")),
                Ok(pb::FieldType::Number) => out.push(typed(id, "42")),
                Ok(pb::FieldType::Boolean) => out.push(typed(id, "true")),
                _ => out.push(typed(id, "Иванов")),
            }
        }
        answers_for(&n.children, out);
    }
}

/// One whole registration by phone; returns the member's final token.
async fn register(channel: Channel, codes: &Codes, phone: &str, card: &str) -> String {
    let mut reg = RegistrationServiceClient::new(channel);
    let begin = reg
        .begin_registration(pb::BeginRegistrationRequest {
            login: phone.to_owned(),
            password: String::new(),
        })
        .await
        .expect("BeginRegistration")
        .into_inner();
    let t0 = begin.auth_token;
    let code = take_code(codes, phone).await;
    reg.get_actions(authed(&t0, pb::GetActionsRequest {}))
        .await
        .expect("GetActions");
    reg.accept_tender_offer(authed(&t0, pb::AcceptTenderOfferRequest {}))
        .await
        .expect("AcceptTenderOffer");
    let confirm = pb::ConfirmPhoneNumberRequest { confirm_code: code };
    let t1 = reg
        .confirm_phone_number(authed(&t0, confirm))
        .await
        .expect("ConfirmPhoneNumber")
        .into_inner()
        .auth_token;
    let password = pb::SetPasswordRequest {
        password: format!("secret-{phone}"),
    };
    let t2 = reg
        .set_password(authed(&t1, password))
        .await
        .expect("SetPassword")
        .into_inner()
        .auth_token;
    let only_required = pb::GetQuestionsRequest {
        only_required: true,
    };
    let questions = reg
        .get_questions(authed(&t2, only_required))
        .await
        .expect("GetQuestions")
        .into_inner()
        .questions;
    let mut answers = Vec::new();
    answers_for(&questions, &mut answers);
    reg.set_answers(authed(&t2, pb::SetAnswersRequest { answers }))
        .await
        .expect("SetAnswers");
    let set = pb::SetCardRequest {
        card_number: card.to_owned(),
    };
    reg.set_card(authed(&t2, set)).await.expect("SetCard");
    reg.emit_virtual(authed(&t2, pb::EmitVirtualRequest {}))
        .await
        .expect("EmitVirtual");
    let finish = reg
        .try_finish_registration(authed(&t2, pb::TryFinishRegistrationRequest {}))
        .await
        .expect("TryFinishRegistration")
        .into_inner();
    assert!(finish.registration_completed, "registration of {phone}");
    finish.auth_token
}

/// `total` registrations by `clients` concurrent clients; the figures and
/// the members' tokens.
async fn registrations(
    channels: Arc<Vec<Channel>>,
    codes: Codes,
    clients: usize,
    total: usize,
) -> (Figures, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (channel, codes, next) = (
                channels[c % channels.len()].clone(),
                Arc::clone(&codes),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return done;
                    }
                    let phone = format!("79{i:09}");
                    let card = (FIRST_CARD + i as u64).to_string();
                    let t = Instant::now();
                    let token = register(channel.clone(), &codes, &phone, &card).await;
                    done.push((t.elapsed(), token));
                }
            })
        })
        .collect();
    let (mut latencies, mut tokens) = (Vec::new(), Vec::new());
    for t in tasks {
        for (latency, token) in t.await.unwrap() {
            latencies.push(latency);
            tokens.push(token);
        }
    }
    (Figures::of(latencies, started.elapsed()), tokens)
}

/// Runs `call(client, iteration)` in a loop on `clients` concurrent tasks for
/// `duration`; the latency of each call.
async fn drive<F, Fut>(clients: usize, duration: Duration, call: F) -> Figures
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while started.elapsed() < duration {
                    let t = Instant::now();
                    call(c, i).await;
                    latencies.push(t.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Figures::of(all, started.elapsed())
}

/// Loads cards `FIRST_CARD ..` (`count` of them) as one range; the time it
/// took and the number loaded.
async fn load_cards(channel: Channel, count: u64) -> (Duration, u64) {
    let started = Instant::now();
    let r = CardServiceClient::new(channel)
        .load_cards(pb::LoadCardsRequest {
            card_numbers: Vec::new(),
            ranges: vec![pb::CardRange {
                first: FIRST_CARD.to_string(),
                last: (FIRST_CARD + count - 1).to_string(),
            }],
        })
        .await
        .expect("LoadCards")
        .into_inner();
    (started.elapsed(), r.loaded)
}

/// Prints a figure line as it comes and keeps it in `$summary`.
macro_rules! report {
    ($summary:ident, $($format:tt)+) => {{
        let line = format!($($format)+);
        println!("  {line}");
        $summary.push(line);
    }};
}

/// Starts NATS, the SMS provider and the service, runs the workloads in
/// order and prints their figures, then the summary.
async fn run() {
    let clients: usize = env("IDENTITY_BENCH_CLIENTS", 32).max(1);
    let total: usize = env("IDENTITY_BENCH_REGISTRATIONS", 2_000).max(1);
    let auth_clients: usize = env("IDENTITY_BENCH_AUTH_CLIENTS", 64).max(1);
    let lookup_clients: usize = env("IDENTITY_BENCH_LOOKUP_CLIENTS", 64).max(1);
    // Every registration binds a card of the range.
    let cards = env("IDENTITY_BENCH_CARDS", 100_000u64).max(total as u64);
    let seconds: u64 = env("IDENTITY_BENCH_SECONDS", 10);
    let connections: usize = env("IDENTITY_BENCH_CHANNELS", 16).max(1);
    let duration = Duration::from_secs(seconds);
    let root = bench_root();
    std::fs::create_dir_all(&root).unwrap();
    // The e2e harness's nats-server (NATS_SERVER_BIN, /usr/sbin, PATH); the
    // bench runs without one, and says so, if there is none.
    let nats = tests_e2e::harness::NatsServer::start().await.ok();
    let nats_url = nats.as_ref().map(|n| n.url());
    let (sms, codes) = sms_provider().await;
    let server = Server::start(&root, sms, nats_url.as_deref()).await;
    // Several HTTP/2 connections: one connection is served by one task.
    let endpoint = tonic::transport::Endpoint::from_shared(server.service.url.clone());
    let endpoint = endpoint.unwrap();
    let channels: Arc<Vec<Channel>> =
        Arc::new((0..connections).map(|_| endpoint.connect_lazy()).collect());
    let events_to = nats_url.as_deref().unwrap_or("nowhere (no nats-server)");
    println!(
        "identity benchmark on {} cores; clients share {} gRPC connections; SMS codes via the HTTP provider to an in-bench server; events to {events_to}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        channels.len(),
    );
    let mut summary = Vec::new();

    let (load, loaded) = load_cards(channels[0].clone(), cards).await;
    report!(
        summary,
        "LoadCards, one range of {} cards: {:.1} s, {:.0} cards/s ({loaded} loaded)",
        cards,
        load.as_secs_f64(),
        loaded as f64 / load.as_secs_f64()
    );

    let (figures, tokens) = registrations(Arc::clone(&channels), codes, clients, total).await;
    report!(
        summary,
        "whole registrations by phone ({total} by {clients} clients): {}",
        figures.line("registrations")
    );

    let tokens = Arc::new(tokens);
    let figures = {
        let (channels, tokens) = (Arc::clone(&channels), Arc::clone(&tokens));
        drive(auth_clients, duration, move |c, i| {
            let mut client = AuthServiceClient::new(channels[c % channels.len()].clone());
            let token = tokens[(c + i as usize * auth_clients) % tokens.len()].clone();
            async move {
                let r = pb::AuthenticateRequest { token };
                client.authenticate(r).await.expect("Authenticate");
            }
        })
        .await
    };
    report!(
        summary,
        "Authenticate ({} tokens, {auth_clients} clients, {} s): {}",
        tokens.len(),
        seconds,
        figures.line("calls")
    );

    let bound = Arc::new(AtomicU64::new(0));
    let figures = {
        let (channels, bound) = (Arc::clone(&channels), Arc::clone(&bound));
        drive(lookup_clients, duration, move |c, _| {
            let mut client = CardServiceClient::new(channels[c % channels.len()].clone());
            let card_number = (FIRST_CARD + rand::rng().random_range(0..cards)).to_string();
            let bound = Arc::clone(&bound);
            async move {
                let r = pb::LookupCardRequest { card_number };
                let r = client.lookup_card(r).await.expect("LookupCard");
                if !r.into_inner().member_id.is_empty() {
                    bound.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await
    };
    report!(
        summary,
        "LookupCard (random cards of the {cards}, {total} of them bound; {} clients, {} s): {}; {} hit a bound card",
        lookup_clients,
        seconds,
        figures.line("calls"),
        bound.load(Ordering::Relaxed)
    );

    server.service.stop().await.unwrap();
    if let Some(url) = &nats_url {
        report!(
            summary,
            "outbox: {} events in the LOYALTY stream at shutdown",
            stream_messages(url).await
        );
    }
    println!("summary:");
    for line in &summary {
        println!("  {line}");
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
