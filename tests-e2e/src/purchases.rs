//! The real `purchases` binary under test, next to a real identity and
//! ledger: started on free ports with a data dir of the test's, a typed
//! gRPC client, and the seed's cheque and steps as request builders.

use std::path::{Path, PathBuf};

use loyalty_proto::purchases::v1 as pb;
use loyalty_proto::purchases::v1::purchases_service_client::PurchasesServiceClient;
use tonic::transport::Channel;

use loyalty_proto::identity::v1 as ipb;
use loyalty_proto::ledger::v1 as lpb;

use crate::harness::{NatsServer, ServiceProcess, ServiceSpec, binary_path, free_port};
use crate::identity::{Identity, random_card};
use crate::ledger::Ledger;

/// A running `purchases` process.
pub struct Purchases {
    /// The process.
    pub process: ServiceProcess,
    /// Its `--data-dir`.
    pub data_dir: PathBuf,
    /// Its gRPC port.
    pub grpc_port: u16,
    channel: Channel,
}

impl Purchases {
    /// Starts `purchases` on free ports with `--data-dir data_dir`, talking
    /// to identity at `identity_url` and the ledger at `ledger_url`, with the
    /// `extra` flags; waits for gRPC health.
    pub async fn start(
        data_dir: &Path,
        identity_url: &str,
        ledger_url: &str,
        extra: &[&str],
    ) -> Self {
        let grpc_port = free_port();
        let spec = ServiceSpec::new("purchases", binary_path("purchases"))
            .args(["--data-dir", data_dir.to_str().expect("utf-8 temp path")])
            .args(["--grpc-addr", &format!("127.0.0.1:{grpc_port}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--identity-url", identity_url])
            .args(["--ledger-url", ledger_url])
            .args(extra.iter().copied())
            .grpc_port(grpc_port)
            .env("RUST_LIB_BACKTRACE", "0");
        let process = ServiceProcess::start(spec)
            .await
            .unwrap_or_else(|e| panic!("purchases starts and reports SERVING: {e:#}"));
        Self {
            process,
            data_dir: data_dir.to_path_buf(),
            grpc_port,
            channel: crate::service_auth::channel(grpc_port),
        }
    }

    /// PurchasesService client.
    pub fn client(&self) -> PurchasesServiceClient<Channel> {
        PurchasesServiceClient::new(self.channel.clone())
    }
}

/// A step of `purchase` with `operation`, by `card`.
pub fn step(purchase: &str, operation: &str, card: &str) -> Option<pb::Step> {
    Some(pb::Step {
        purchase_id: purchase.to_owned(),
        operation_id: operation.to_owned(),
        operation_date: Some(
            chrono::DateTime::parse_from_rfc3339("2019-04-09T07:24:26.628Z")
                .expect("the seed's date")
                .with_timezone(&chrono::Utc)
                .into(),
        ),
        identifier: (!card.is_empty()).then(|| pb::Identifier {
            r#type: pb::IdentifierType::Card as i32,
            value: card.to_owned(),
        }),
        device: Some(pb::Device {
            cashier: "string".into(),
            ..Default::default()
        }),
    })
}

/// The seed's one-line cheque with the given amount, till discount and
/// price.
pub fn seed_cheque(amount: &str, discount: &str, price: &str) -> Option<pb::Cheque> {
    Some(pb::Cheque {
        number: "string".into(),
        date: None,
        lines: vec![pb::ChequeLine {
            position: 1,
            amount: amount.into(),
            goods_id: "0036961".into(),
            barcode: "8765653477".into(),
            quantity: "1".into(),
            cashback: "0".into(),
            discount: discount.into(),
            name: "Товар100".into(),
            price: price.into(),
            correction: "0".into(),
            group: String::new(),
        }],
    })
}

/// A payment of the Bonus step.
pub fn pay(kind: &str, amount: &str) -> pb::Pay {
    pb::Pay {
        r#type: kind.into(),
        amount: amount.into(),
        details: "string".into(),
        certificate: None,
    }
}

/// identity, the ledger and purchases on one nats-server.
pub struct World {
    /// The nats-server the services publish to.
    pub nats: NatsServer,
    _dirs: Vec<tempfile::TempDir>,
    /// identity.
    pub identity: Identity,
    /// The ledger.
    pub ledger: Ledger,
    /// purchases.
    pub purchases: Purchases,
}

/// Starts the three services, purchases with `extra` flags.
pub async fn world(extra: &[&str]) -> World {
    crate::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let identity = Identity::start(dirs[0].path(), &["--nats-url", &nats.url()], &[]).await;
    let identity_url = format!("http://127.0.0.1:{}", identity.grpc_port);
    let ledger = Ledger::start(
        dirs[1].path(),
        &["--nats-url", &nats.url(), "--identity-url", &identity_url],
        &[],
    )
    .await;
    let purchases = Purchases::start(
        dirs[2].path(),
        &identity_url,
        &ledger.url(),
        &[&["--nats-url", nats.url().as_str()][..], extra].concat(),
    )
    .await;
    World {
        nats,
        _dirs: dirs,
        identity,
        ledger,
        purchases,
    }
}

/// Accrues `points` (BONUS) to `member` in the ledger under `operation`.
pub async fn accrue(w: &World, operation: &str, member: &str, points: &str) {
    w.ledger
        .client()
        .accrue(lpb::AccrueRequest {
            operation_id: operation.into(),
            member_id: member.into(),
            amount: Some(loyalty_proto::common::v1::Money {
                amount: points.into(),
                currency: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A member registered by a fresh card, with `points` in the ledger.
pub async fn member_with_points(w: &World, points: &str) -> (String, String) {
    let card = random_card();
    w.identity.load_cards(&[card.as_str()]).await;
    let member = w
        .identity
        .registration()
        .begin_registration(ipb::BeginRegistrationRequest {
            login: card.clone(),
            password: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .member_id;
    accrue(w, &format!("welcome-{member}"), &member, points).await;
    (card, member)
}

/// The member's BONUS account.
pub async fn bonus_balance(w: &World, member: &str) -> lpb::AccountBalance {
    w.ledger
        .client()
        .get_balance(lpb::GetBalanceRequest {
            member_id: member.into(),
            currency: "BONUS".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .accounts
        .remove(0)
}

/// Line `position`: `quantity` × `price` = `amount`, goods `g<position>`.
pub fn line(position: u32, amount: &str, quantity: &str, price: &str) -> pb::ChequeLine {
    pb::ChequeLine {
        position,
        amount: amount.into(),
        goods_id: format!("g{position}"),
        barcode: format!("20000000000{position}"),
        quantity: quantity.into(),
        price: price.into(),
        ..Default::default()
    }
}

/// Cheque number 42 with `lines`.
pub fn cheque(lines: Vec<pb::ChequeLine>) -> Option<pb::Cheque> {
    Some(pb::Cheque {
        number: "42".into(),
        date: None,
        lines,
    })
}

/// Pays `points` and confirms a two-line purchase (3 × 20 and 1 × 40).
pub async fn bought(w: &World, purchase: &str, card: &str, points: &str, money: &str) {
    let mut p = w.purchases.client();
    let lines = vec![line(1, "60", "3", "20"), line(2, "40", "1", "40")];
    p.payment(pb::PaymentRequest {
        step: step(purchase, &format!("{purchase}-pay"), card),
        cheque: cheque(lines.clone()),
        amount: points.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    p.bonus(pb::BonusRequest {
        step: step(purchase, &format!("{purchase}-bonus"), card),
        cheque: cheque(lines),
        pays: vec![pay("Card", money), pay("Loymax", points)],
        ..Default::default()
    })
    .await
    .unwrap();
    p.confirm(pb::ConfirmRequest {
        step: step(purchase, &format!("{purchase}-confirm"), ""),
    })
    .await
    .unwrap();
}

/// A refund of `lines` (position, quantity) of `purchase` (all that is
/// left when empty) as operation `op`.
pub fn refund(purchase: &str, op: &str, lines: &[(u32, &str)]) -> pb::RefundRequest {
    pb::RefundRequest {
        step: step(purchase, op, ""),
        lines: lines
            .iter()
            .map(|(position, quantity)| pb::RefundLine {
                position: *position,
                quantity: (*quantity).into(),
            })
            .collect(),
    }
}

/// A Luhn-valid 16-digit PAN starting with `prefix` (15 digits).
pub fn pan(prefix: &str) -> String {
    let digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                *d
            }
        })
        .sum();
    format!("{prefix}{}", (10 - sum % 10) % 10)
}
