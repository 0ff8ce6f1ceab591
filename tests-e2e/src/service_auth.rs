//! Service-to-service authentication as the end-to-end tests see it: random
//! service tokens, the callers file (`name token` lines) and the own-token
//! file the services read, requests carrying a token in
//! `x-loyalty-service-token`, the check that a call was refused for want of
//! a service token, and the open gRPC health and reflection endpoints.

use std::path::{Path, PathBuf};

use rand::Rng;
use rand::distr::Alphanumeric;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1;

/// The metadata key a service token travels in (written out here, not
/// taken from the kit, so the tests pin the wire contract).
pub const HEADER: &str = "x-loyalty-service-token";

/// A random service token of `caller`: its name and 40 random letters and
/// digits (the services accept tokens of at least 32 characters).
pub fn random_token(caller: &str) -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("{caller}-{random}")
}

/// Writes a callers file (`--caller-tokens-file`) listing `callers` as
/// (name, token), with a comment and a blank line as operators write them.
pub fn write_callers_file(dir: &Path, file: &str, callers: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("# callers allowed to call this service\n\n");
    for (name, token) in callers {
        text.push_str(&format!("# {name}\n{name} {token}\n"));
    }
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write the callers file");
    path
}

/// Writes a service's own token file (`--service-token-file`).
pub fn write_token_file(dir: &Path, file: &str, token: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, format!("{token}\n")).expect("write the token file");
    path
}

/// `message` carrying the service token `token`.
pub fn with_token<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert(HEADER, token.parse().expect("an ASCII service token"));
    r
}

/// `message` with or without (`None`) a service token.
pub fn maybe_token<T>(token: Option<&str>, message: T) -> Request<T> {
    match token {
        Some(t) => with_token(t, message),
        None => Request::new(message),
    }
}

/// Asserts a call was refused for want of a valid service token:
/// UNAUTHENTICATED naming the metadata key (a member-token refusal does
/// not), and without any of `secrets` in the message.
pub fn assert_refused<T: std::fmt::Debug>(r: Result<Response<T>, Status>, secrets: &[&str]) {
    match r {
        Err(s) => {
            assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
            assert!(s.message().contains(HEADER), "{s:?}");
            for secret in secrets {
                assert!(!s.message().contains(secret), "a token in {s:?}");
            }
        }
        Ok(ok) => panic!("expected UNAUTHENTICATED (no valid service token), got {ok:?}"),
    }
}

/// A lazily connected channel to `127.0.0.1:port`.
pub fn channel(port: u16) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_lazy()
}

/// `grpc.health.v1.Health/Check(service)` without any service token.
pub async fn health(port: u16, service: &str) -> Result<ServingStatus, Status> {
    let answer = HealthClient::new(channel(port))
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(answer.into_inner().status())
}

/// The services listed by gRPC reflection v1, asked without any service token.
pub async fn reflected_services(port: u16) -> Result<Vec<String>, Status> {
    use v1::server_reflection_client::ServerReflectionClient;
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel(port))
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let answer = answers
        .message()
        .await?
        .ok_or_else(|| Status::internal("no reflection answer"))?;
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => Err(Status::internal(format!(
            "unexpected reflection answer {other:?}"
        ))),
    }
}

/// Health answers SERVING for the server and each of `services`, and
/// reflection lists them, all without a service token.
pub async fn assert_open_endpoints(port: u16, services: &[&str]) {
    assert_eq!(health(port, "").await.unwrap(), ServingStatus::Serving);
    let listed = reflected_services(port).await.unwrap();
    for service in services {
        assert_eq!(
            health(port, service).await.unwrap(),
            ServingStatus::Serving,
            "{service}"
        );
        assert!(listed.iter().any(|s| s == service), "{service}: {listed:?}");
    }
}

/// Asserts none of `tokens` occurs in `text` (the log or output of `place`).
pub fn assert_no_token(place: &str, text: &str, tokens: &[&str]) {
    for token in tokens {
        if let Some(i) = text.find(token) {
            let start = text[..i]
                .char_indices()
                .rev()
                .nth(120)
                .map_or(0, |(j, _)| j);
            panic!(
                "a service token leaked into {place}: …{}…",
                &text[start..i + token.len()]
            );
        }
    }
}

/// The callers and their tokens of one test.
pub struct Callers {
    /// The ledger's token.
    pub ledger: String,
    /// An operator's token (may call anything).
    pub ops: String,
}

impl Callers {
    /// Fresh random tokens.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            ledger: random_token("ledger"),
            ops: random_token("ops"),
        }
    }

    /// Writes the callers file listing both into `dir`: the ledger may only
    /// resolve members at identity and call the ledger; ops may call anything.
    pub fn file(&self, dir: &Path) -> String {
        let path = write_callers_file(
            dir,
            "callers.txt",
            &[
                (
                    "ledger",
                    &format!(
                        "{} loyalty.identity.v1.MemberService/ResolveMembers,loyalty.ledger.v1.LedgerService",
                        self.ledger
                    ),
                ),
                ("ops", &self.ops),
            ],
        );
        path.to_str().expect("utf-8 temp path").to_owned()
    }
}

/// Stocks `card` and registers by it (the card is bound at once); returns
/// the member id and the member's token. Every call carries `token`.
pub async fn register_by_card(
    id: &crate::identity::Identity,
    token: &str,
    card: &str,
) -> (String, String) {
    let loaded = id
        .cards()
        .load_cards(with_token(
            token,
            loyalty_proto::identity::v1::LoadCardsRequest {
                card_numbers: vec![card.to_owned()],
                ranges: Vec::new(),
            },
        ))
        .await
        .expect("LoadCards with a listed token")
        .into_inner();
    assert_eq!(loaded.loaded, 1, "{loaded:?}");
    let begun = id
        .registration()
        .begin_registration(with_token(
            token,
            loyalty_proto::identity::v1::BeginRegistrationRequest {
                login: card.to_owned(),
                password: String::new(),
            },
        ))
        .await
        .expect("BeginRegistration with a listed token")
        .into_inner();
    assert_eq!(
        begun.state(),
        loyalty_proto::identity::v1::BeginRegistrationState::Success,
        "{begun:?}"
    );
    assert!(!begun.member_id.is_empty() && !begun.auth_token.is_empty());
    (begun.member_id, begun.auth_token)
}
