//! The real `ledger` binary under test: started on free ports with a data
//! dir of the test's (a port taken before the bind is retried on others), a
//! typed gRPC client on a lazy channel, batches built from lines, balances
//! read back (optionally with a service token), and its operator command
//! `ledger batch apply FILE` run to completion.

use std::path::{Path, PathBuf};

use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tonic::transport::Channel;

use crate::harness::{ServiceProcess, ServiceSpec, binary_path, free_port};
use crate::identity::DEADLINE;
use crate::identity_ops::{Ran, run_operator};
use crate::service_auth::maybe_token;

/// A running `ledger` process.
pub struct Ledger {
    /// The process (terminate / restart / read its log).
    pub process: ServiceProcess,
    /// Its `--data-dir`.
    pub data_dir: PathBuf,
    /// Its gRPC port.
    pub grpc_port: u16,
    channel: Channel,
}

impl Ledger {
    /// Starts `ledger` on free ports with `--data-dir data_dir`, the `extra`
    /// flags and the `env` variables, and waits for gRPC health.
    pub async fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut attempt = 1;
        loop {
            let grpc_port = free_port();
            let mut spec = ServiceSpec::new("ledger", binary_path("ledger"))
                .args(["--data-dir", data_dir.to_str().expect("utf-8 temp path")])
                .args(["--grpc-addr", &format!("127.0.0.1:{grpc_port}")])
                .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
                .args(extra.iter().copied())
                .grpc_port(grpc_port)
                .env("RUST_LIB_BACKTRACE", "0");
            for (k, v) in env {
                spec = spec.env(*k, *v);
            }
            let process = match ServiceProcess::start(spec).await {
                Ok(process) => process,
                Err(e) if attempt < 3 && format!("{e:#}").contains("already in use") => {
                    crate::log!("ledger port taken, retrying on others: {e:#}");
                    attempt += 1;
                    continue;
                }
                Err(e) => panic!("ledger starts and reports SERVING: {e:#}"),
            };
            return Self {
                process,
                data_dir: data_dir.to_path_buf(),
                grpc_port,
                channel: crate::service_auth::channel(grpc_port),
            };
        }
    }

    /// Its gRPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// LedgerService client.
    pub fn client(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::new(self.channel.clone())
    }

    /// The member's newest history rows (up to 10), as of now.
    pub async fn history(&self, member: &str) -> Vec<pb::HistoryRow> {
        self.client()
            .get_history(pb::GetHistoryRequest {
                member_id: member.to_owned(),
                to_date: Some(chrono::Utc::now().into()),
                count: 10,
                ..Default::default()
            })
            .await
            .expect("the history answers")
            .into_inner()
            .rows
    }

    /// The member's available BONUS points (`None`: no BONUS account), asked
    /// with the service token `token` if any.
    pub async fn bonus(&self, member: &str, token: Option<&str>) -> Option<String> {
        let request = pb::GetBalanceRequest {
            member_id: member.to_owned(),
            currency: String::new(),
        };
        self.client()
            .get_balance(maybe_token(token, request))
            .await
            .expect("GetBalance")
            .into_inner()
            .accounts
            .into_iter()
            .find(|a| a.currency == "BONUS")
            .map(|a| a.available)
    }

    /// Waits until the ledger opened the member's BONUS account (from identity's
    /// CardIssued event).
    pub async fn wait_for_account(&self, member: &str) {
        let available = crate::harness::eventually(
            DEADLINE,
            "the ledger opens an account for the issued card",
            || self.bonus(member, None),
        )
        .await;
        assert_eq!(available, "0.00");
    }
}

/// One accrual line of a batch.
pub fn batch_line(member_no: &str, points: &str) -> pb::BatchLine {
    pb::BatchLine {
        member_no: member_no.into(),
        description: "partner accrual".into(),
        operation_date: "2026-11-20 10:00:00".into(),
        merchant_name: "Shop".into(),
        transaction_amount: "100.00".into(),
        points_amount: points.into(),
        malformed: String::new(),
    }
}

/// The messages of an accrual batch `request_id` with `lines`, ending with
/// the trailer (line count and digest) that completes an upload.
pub fn accrual_batch(request_id: &str, lines: Vec<pb::BatchLine>) -> Vec<pb::ApplyBatchRequest> {
    let header = pb::BatchHeader {
        request_id: request_id.into(),
        r#type: pb::BatchType::Accrue as i32,
        accrue_description: "partner".into(),
        ..Default::default()
    };
    batch_upload(header, lines)
}

/// A whole upload: `header`, the `lines` in one message, and the trailer.
pub fn batch_upload(
    header: pb::BatchHeader,
    lines: Vec<pb::BatchLine>,
) -> Vec<pb::ApplyBatchRequest> {
    use pb::apply_batch_request::Part;
    let mut digest = ledger::app::batch::BatchDigest::new(&header);
    for line in &lines {
        digest.line(line);
    }
    vec![
        pb::ApplyBatchRequest {
            part: Some(Part::Header(header)),
        },
        pb::ApplyBatchRequest {
            part: Some(Part::Lines(pb::BatchLines { lines })),
        },
        pb::ApplyBatchRequest {
            part: Some(Part::Trailer(digest.trailer())),
        },
    ]
}

/// Runs `ledger <args>` with the extra `env` in `dir` and waits for it to
/// exit (see [`run_operator`]).
pub async fn run_ledger(args: &[String], env: &[(String, String)], dir: &Path) -> Ran {
    run_operator("ledger", args, env, dir).await
}

/// A batch file in the seed's JSON format: one accrual of `points` to `member`.
pub fn write_batch_file(dir: &Path, request_id: &str, member: &str, points: &str) -> String {
    let text = format!(
        r#"{{
 "requestId": "{request_id}",
 "type": 2,
 "accrueDescription": "partner",
 "currencyExternalId": "BONUS",
 "lifeTimeDefinitionExternalId": "",
 "accrue": [
 {{"memberNo": "{member}", "Description": "partner accrual", "operationDate": "2026-11-20 10:00:00",
  "merchantName": "Shop", "transactionAmount": 100.00, "pointsAmount": {points}}}
 ]
}}"#
    );
    let path = dir.join(format!("{request_id}.json"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}
