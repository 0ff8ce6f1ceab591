//! The real `identity` binary under test: started on free ports with a data
//! dir of the test's, typed gRPC clients on a lazy channel (it reconnects
//! after a restart), bearer tokens in metadata, confirm codes read from the
//! local notify sink (`<data-dir>/notify/messages.jsonl`), google.rpc error
//! details, and the seed's registration by phone as one reusable flow.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loyalty_proto::identity::v1 as pb;
use loyalty_proto::identity::v1::auth_service_client::AuthServiceClient;
use loyalty_proto::identity::v1::card_service_client::CardServiceClient;
use loyalty_proto::identity::v1::member_service_client::MemberServiceClient;
use loyalty_proto::identity::v1::messaging_service_client::MessagingServiceClient;
use loyalty_proto::identity::v1::registration_service_client::RegistrationServiceClient;
use rand::Rng;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::harness::{ServiceProcess, ServiceSpec, binary_path, free_port};

pub use crate::identity_register::register_by_phone;

/// How long a test waits for an observable outcome before failing.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Interval between polls.
pub const POLL: Duration = Duration::from_millis(50);

/// A running `identity` process.
pub struct Identity {
    /// The process (terminate / restart / read its log).
    pub process: ServiceProcess,
    /// Its `--data-dir`.
    pub data_dir: PathBuf,
    /// Its gRPC port.
    pub grpc_port: u16,
    /// Its `/metrics` address (host:port).
    pub metrics_addr: String,
    channel: Channel,
}

impl Identity {
    /// Starts `identity` on free ports with `--data-dir data_dir`, the
    /// `extra` flags and the `env` variables, and waits for gRPC health. A
    /// port taken between [`free_port`] and the bind is retried on new ports.
    pub async fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut attempt = 1;
        loop {
            let grpc_port = free_port();
            let metrics_addr = format!("127.0.0.1:{}", free_port());
            let mut spec = ServiceSpec::new("identity", binary_path("identity"))
                .args(["--data-dir", data_dir.to_str().expect("utf-8 temp path")])
                .args(["--grpc-addr", &format!("127.0.0.1:{grpc_port}")])
                .args(["--metrics-addr", &metrics_addr])
                .args(extra.iter().copied())
                .grpc_port(grpc_port)
                // A start-up error stays one line (not buried under anyhow's
                // backtrace) so the log tail shows it; panics keep theirs.
                .env("RUST_LIB_BACKTRACE", "0");
            for (k, v) in env {
                spec = spec.env(*k, *v);
            }
            let process = match ServiceProcess::start(spec).await {
                Ok(process) => process,
                Err(e) if attempt < 3 && format!("{e:#}").contains("already in use") => {
                    crate::log!("identity port taken, retrying on others: {e:#}");
                    attempt += 1;
                    continue;
                }
                Err(e) => panic!("identity starts and reports SERVING: {e:#}"),
            };
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
                    .expect("endpoint")
                    .connect_lazy();
            return Self {
                process,
                data_dir: data_dir.to_path_buf(),
                grpc_port,
                metrics_addr,
                channel,
            };
        }
    }

    /// RegistrationService client.
    pub fn registration(&self) -> RegistrationServiceClient<Channel> {
        RegistrationServiceClient::new(self.channel.clone())
    }

    /// AuthService client.
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    /// CardService client.
    pub fn cards(&self) -> CardServiceClient<Channel> {
        CardServiceClient::new(self.channel.clone())
    }

    /// MemberService client.
    pub fn members(&self) -> MemberServiceClient<Channel> {
        MemberServiceClient::new(self.channel.clone())
    }

    /// MessagingService client.
    pub fn messaging(&self) -> MessagingServiceClient<Channel> {
        MessagingServiceClient::new(self.channel.clone())
    }

    /// The local notify sink the service writes messages to.
    pub fn sink_path(&self) -> PathBuf {
        notify::default_local_path(&self.data_dir)
    }

    /// Every message the service sent so far, oldest first.
    pub fn sent(&self) -> Vec<notify::SentMessage> {
        notify::read_messages(self.sink_path()).expect("the notify sink parses")
    }

    /// Messages sent to `to` on `channel`, oldest first.
    pub fn sent_to(&self, channel: notify::Channel, to: &str) -> Vec<notify::SentMessage> {
        self.sent()
            .into_iter()
            .filter(|m| m.channel == channel && m.to == to)
            .collect()
    }

    /// Waits until more than `seen` codes were sent to `to` on `channel`;
    /// returns the newest code.
    pub async fn code_after(&self, channel: notify::Channel, to: &str, seen: usize) -> String {
        let what = format!("confirm code #{} to {to} ({channel})", seen + 1);
        crate::harness::eventually(DEADLINE, &what, || async {
            let sent = self.sent_to(channel, to);
            (sent.len() > seen).then(|| code_of(&sent.last().expect("non-empty").body))
        })
        .await
    }

    /// Loads physical cards into the stock; asserts they were all new.
    pub async fn load_cards(&self, numbers: &[&str]) {
        let r = self
            .cards()
            .load_cards(pb::LoadCardsRequest {
                card_numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
                ranges: Vec::new(),
            })
            .await
            .expect("LoadCards")
            .into_inner();
        assert_eq!(r.loaded, numbers.len() as u64, "{r:?}");
        assert!(r.rejected.is_empty(), "{r:?}");
    }
}

/// The code in a confirm-code message body (`Код подтверждения: NNNNNN`).
pub fn code_of(body: &str) -> String {
    let code = body
        .strip_prefix("Код подтверждения: ")
        .unwrap_or_else(|| panic!("not a confirm-code body: {body:?}"))
        .trim()
        .to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "a code has 6 digits: {code:?}"
    );
    code
}

/// `message` with `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII token"),
    );
    r
}

/// The google.rpc.ErrorInfo of a status: (reason, metadata).
pub fn error_info(status: &Status) -> (String, HashMap<String, String>) {
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    (info.reason, info.metadata)
}

/// Asserts `status` has `code` and an ErrorInfo `reason`; returns its metadata.
pub fn assert_reason(status: &Status, code: Code, reason: &str) -> HashMap<String, String> {
    assert_eq!(status.code(), code, "{status:?}");
    let (got, metadata) = error_info(status);
    assert_eq!(got, reason, "{status:?}");
    metadata
}

/// The google.rpc.BadRequest field violations of a status: (field, description).
pub fn violations(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

/// Asserts `status` is INVALID_ARGUMENT naming `field` among its
/// violations.
pub fn assert_names_field(status: &Status, field: &str) {
    assert!(
        violations(status).iter().any(|(f, _)| f == field),
        "{field} is not named in {status:?}"
    );
}

/// A random phone number: `7` and 10 digits.
pub fn random_phone() -> String {
    format!("79{:09}", rand::rng().random_range(0..1_000_000_000u64))
}

/// A random 16-digit physical card number (outside the virtual range 777...).
pub fn random_card() -> String {
    format!(
        "9116{:012}",
        rand::rng().random_range(0..1_000_000_000_000u64)
    )
}

/// `***` and the last four characters, like the service masks.
pub fn masked(value: &str) -> String {
    format!("***{}", &value[value.len() - 4..])
}

/// A 6-digit code different from every one of `not`.
pub fn other_code(not: &[&str]) -> String {
    loop {
        let c = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        if !not.contains(&c.as_str()) {
            return c;
        }
    }
}

/// The answers a client gives to the questionnaire `nodes`: a name for text
/// questions, `birth_date` for dates, the first option of choices.
pub fn answers_for(nodes: &[pb::QuestionNode], birth_date: &str) -> Vec<pb::Answer> {
    let mut out = Vec::new();
    for n in nodes {
        if n.node_type == pb::NodeType::Question as i32 {
            let id = n.id.expect("a question has an id");
            match pb::FieldType::try_from(n.field_type).expect("known field type") {
                pb::FieldType::Radio | pb::FieldType::Checkbox => {
                    let option = n
                        .children
                        .iter()
                        .find(|c| c.node_type == pb::NodeType::Answer as i32)
                        .expect("a choice has options");
                    out.push(pb::Answer {
                        group_id: Some(id),
                        id: option.id.expect("an option has an id"),
                        value: String::new(),
                        selected: true,
                    });
                }
                pb::FieldType::Date => out.push(text_answer(id, birth_date)),
                pb::FieldType::Number => out.push(text_answer(id, "42")),
                pb::FieldType::Boolean => out.push(text_answer(id, "true")),
                _ => out.push(text_answer(id, "Иванов")),
            }
        }
        out.extend(answers_for(&n.children, birth_date));
    }
    out
}

/// A typed answer.
pub fn text_answer(id: i64, value: &str) -> pb::Answer {
    pb::Answer {
        group_id: None,
        id,
        value: value.to_owned(),
        selected: false,
    }
}

/// Everything a phone registration produced (secrets included, for leak scans).
#[derive(Debug, Clone)]
pub struct Registered {
    /// The member.
    pub member_id: String,
    /// The phone number (login).
    pub phone: String,
    /// The password.
    pub password: String,
    /// The physical card bound with Cards/Set.
    pub physical_card: String,
    /// The virtual card emitted.
    pub virtual_card: String,
    /// The token after TryFinishRegistration (the current one).
    pub token: String,
    /// Every token issued on the way, oldest first (rotated ones included).
    pub tokens: Vec<String>,
}

/// The required questions of the questionnaire (GetQuestions with
/// `only_required`), as the member with `token` sees them.
pub async fn required_questions(id: &Identity, token: &str) -> Vec<pb::QuestionNode> {
    id.registration()
        .get_questions(authed(
            token,
            pb::GetQuestionsRequest {
                only_required: true,
            },
        ))
        .await
        .expect("GetQuestions")
        .into_inner()
        .questions
}

/// Asserts a call failed with UNAUTHENTICATED.
pub fn assert_unauthenticated<T: std::fmt::Debug>(r: Result<tonic::Response<T>, Status>) {
    match r {
        Err(s) => assert_eq!(s.code(), Code::Unauthenticated, "{s:?}"),
        Ok(ok) => panic!("expected UNAUTHENTICATED, got {ok:?}"),
    }
}

fn step_name(a: &pb::UserAction) -> (&'static str, &'static str, bool) {
    (
        pb::UserActionType::try_from(a.user_action_type)
            .map(|s| s.as_str_name())
            .unwrap_or("?"),
        pb::ActionState::try_from(a.action_state)
            .map(|s| s.as_str_name())
            .unwrap_or("?"),
        a.is_done,
    )
}

/// The registration steps as (step, state, done).
pub async fn actions(id: &Identity, token: &str) -> Vec<(&'static str, &'static str, bool)> {
    id.registration()
        .get_actions(authed(token, pb::GetActionsRequest {}))
        .await
        .expect("GetActions")
        .into_inner()
        .actions
        .iter()
        .map(step_name)
        .collect()
}

/// The member's cards as (number, kind, state), sorted.
pub async fn member_cards(id: &Identity, token: &str) -> Vec<(String, &'static str, &'static str)> {
    let m = id
        .members()
        .get_member(authed(token, pb::GetMemberRequest::default()))
        .await
        .expect("GetMember")
        .into_inner();
    let mut cards: Vec<_> = m
        .cards
        .iter()
        .map(|c| {
            (
                c.card_number.clone(),
                pb::CardKind::try_from(c.kind)
                    .map(|k| k.as_str_name())
                    .unwrap_or("?"),
                pb::CardState::try_from(c.state)
                    .map(|k| k.as_str_name())
                    .unwrap_or("?"),
            )
        })
        .collect();
    cards.sort();
    cards
}

/// LookupCard as (state, kind, member).
pub async fn lookup(id: &Identity, card: &str) -> (&'static str, &'static str, String) {
    let c = id
        .cards()
        .lookup_card(pb::LookupCardRequest {
            card_number: card.to_owned(),
        })
        .await
        .expect("LookupCard")
        .into_inner();
    (
        pb::CardState::try_from(c.state)
            .map(|k| k.as_str_name())
            .unwrap_or("?"),
        pb::CardKind::try_from(c.kind)
            .map(|k| k.as_str_name())
            .unwrap_or("?"),
        c.member_id,
    )
}
