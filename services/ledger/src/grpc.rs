//! The ledger's gRPC edge: validates requests into domain commands, runs
//! them through the repository, and renders results.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kit::aggregate::{Executed, Idempotency, Repository, RepositoryError};
use kit::log::{LogError, Metadata, request_hash};
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_server::LedgerService;
use prost::Message;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use tonic_types::FieldViolation;

use crate::app::catalog::CatalogHandle;
use crate::batch::{BatchApplier, BatchPart};
use crate::config::HoldTtl;
use crate::domain::account::{Account, AccountKey, Command};
use crate::domain::catalog::Currency;
use crate::domain::money;
use crate::error::ApiError;
use crate::projections::history;
use kit::projection::ProjectionHandle;

pub mod catalog;
mod check;
mod render;

use check::Check;

use render::result_of;

/// Longest accepted id (operation, hold, member, card, purchase, ...).
const MAX_ID: usize = 128;
/// Longest accepted description, in bytes.
pub const MAX_TEXT: usize = 1024;
/// Longest accepted reason or merchant name, in bytes.
pub const MAX_SHORT_TEXT: usize = 256;

/// Operation-id prefixes of the ledger's own operations (batch lines
/// `batch/<requestId>/<line>`, consumed events `social/...`): refused from
/// callers so a caller's operation can never pass for one of them.
const RESERVED_PREFIXES: [&str; 2] = ["batch/", "social/"];

/// The clock: the kit's one injectable [`kit::clock::Clock`].
pub use kit::clock::Clock;

/// The gRPC service.
pub struct LedgerApi {
    repo: Arc<Repository<Account>>,
    catalog: Arc<CatalogHandle>,
    clock: Clock,
    history: ProjectionHandle,
    batch: Arc<BatchApplier>,
    hold_ttl: HoldTtl,
}

impl LedgerApi {
    /// A service over `repo` with `catalog`, reading time from `clock`,
    /// answering history from the `history` projection.
    pub fn new(
        repo: Arc<Repository<Account>>,
        catalog: Arc<CatalogHandle>,
        clock: Clock,
        history: ProjectionHandle,
        batch: Arc<BatchApplier>,
    ) -> Self {
        Self {
            repo,
            catalog,
            clock,
            history,
            batch,
            hold_ttl: HoldTtl::default(),
        }
    }

    /// The same service with holds' time-to-live `settings`.
    pub fn with_hold_ttl(mut self, settings: HoldTtl) -> Self {
        self.hold_ttl = settings;
        self
    }

    async fn history(&self, r: pb::GetHistoryRequest) -> Result<pb::GetHistoryResponse, ApiError> {
        let mut c = Check::default();
        let member = c.id("member_id", &r.member_id);
        let mut micros = |field: &str, t: Option<loyalty_proto::wkt::Timestamp>| {
            t.and_then(|t| match DateTime::<Utc>::try_from(t) {
                Ok(t) => Some(t.timestamp_micros()),
                Err(e) => {
                    c.fail(field, e);
                    None
                }
            })
        };
        let filter = history::Filter {
            to: micros("to_date", r.to_date),
            from_date: micros("from_date", r.from_date),
            count: (r.count > 0).then_some(r.count),
            card_id: (!r.card_id.is_empty()).then(|| r.card_id.clone()),
            offset: r.from,
        };
        c.done()?;
        // Read your writes: the projection catches up with the log first.
        let head = self.repo.log().head();
        if !self
            .history
            .wait_for(head, std::time::Duration::from_secs(5))
            .await
        {
            return Err(ApiError::Lagging("the history"));
        }
        let (all_count, rows) = history::query(self.history.tree(), &member, &filter)?;
        Ok(pb::GetHistoryResponse { all_count, rows })
    }

    fn key(member_id: &str, currency: &Currency) -> AccountKey {
        AccountKey {
            member_id: member_id.to_owned(),
            currency: currency.id.clone(),
        }
    }

    /// Runs `command` under the ledger-wide idempotency key of its id:
    /// `api/op/<operation id>` (`api/hold/<hold id>` for holds), hashed over
    /// the method and the request. So an operation id is unique across the
    /// ledger, whatever the account or method: the same id with another
    /// member, currency, method or content is ALREADY_EXISTS
    /// (Loymax `NotUniqueOperationID`), never a second operation.
    async fn run<M: Message>(
        &self,
        method: &str,
        id: &str,
        request: &M,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<pb::OperationResult, ApiError> {
        let (key, _) = command.key_and_time();
        let stream = key.stream();
        let precision = self
            .catalog
            .current()
            .currency(&key.currency)
            .map_or(2, |c| c.precision);
        let namespace = if method == "Hold" { "hold" } else { "op" };
        let mut hashed = Vec::with_capacity(method.len() + 1 + request.encoded_len());
        hashed.extend_from_slice(method.as_bytes());
        hashed.push(0);
        request
            .encode(&mut hashed)
            .map_err(|e| anyhow::anyhow!(e))?;
        let idempotency = Idempotency {
            key: format!("api/{namespace}/{id}"),
            request_hash: request_hash(&hashed),
        };
        let metadata = Metadata {
            correlation_id: Some(id.to_owned()),
            causation_id: None,
            traceparent: kit::telemetry::current_traceparent(),
        };
        let executed = self
            .repo
            .execute(
                &stream,
                &command,
                Some(idempotency),
                metadata,
                |_, events| result_of(events, now, precision).encode_to_vec(),
            )
            .await
            .map_err(|e| match e {
                RepositoryError::Log(LogError::IdempotencyConflict { .. }) => {
                    ApiError::IdempotencyConflict(id.to_owned())
                }
                other => other.into(),
            })?;
        match executed {
            Executed::Applied { reply, .. } | Executed::Repeated { reply } => {
                pb::OperationResult::decode(reply.as_slice())
                    .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored reply: {e}")))
            }
        }
    }

    async fn accrue(&self, r: pb::AccrueRequest) -> Result<pb::OperationResult, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let op = c.operation_id("operation_id", &r.operation_id);
        let member = c.id("member_id", &r.member_id);
        let money = r.amount.clone().unwrap_or_default();
        let currency = c.currency(&catalog, "amount.currency", &money.currency);
        let amount = c.amount("amount.amount", &money.amount, currency);
        let lifetime = catalog.lifetime(&r.lifetime);
        if lifetime.is_none() {
            c.fail(
                "lifetime",
                format!("unknown lifetime definition {}", money::quote(&r.lifetime)),
            );
        }
        let kind = c.kind(
            r.kind,
            &[
                pb::OperationKind::Regular,
                pb::OperationKind::Manual,
                pb::OperationKind::Social,
                pb::OperationKind::Charging,
            ],
        );
        let reward_type = c.reward_type(r.reward_type);
        c.context(r.context.as_ref());
        c.operator(kind, r.context.as_ref());
        c.done()?;
        let (currency, (lifetime_id, lifetime)) =
            (currency.expect("checked"), lifetime.expect("checked"));
        let command = Command::Accrue {
            key: Self::key(&member, currency),
            operation_id: op.clone(),
            amount,
            lifetime: lifetime_id.to_owned(),
            expires_at: lifetime.expires_at(now),
            kind,
            reward_type,
            context: r.context.clone().unwrap_or_default(),
            now,
        };
        self.run("Accrue", &op, &r, command, now).await
    }

    async fn withdraw(&self, r: pb::WithdrawRequest) -> Result<pb::OperationResult, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let op = c.operation_id("operation_id", &r.operation_id);
        let member = c.id("member_id", &r.member_id);
        let money = r.amount.clone().unwrap_or_default();
        let currency = c.currency(&catalog, "amount.currency", &money.currency);
        let amount = c.amount("amount.amount", &money.amount, currency);
        let kind = c.kind(
            r.kind,
            &[
                pb::OperationKind::Regular,
                pb::OperationKind::Manual,
                pb::OperationKind::Social,
            ],
        );
        let withdraw_type = c.withdraw_type(r.withdraw_type);
        c.context(r.context.as_ref());
        c.operator(kind, r.context.as_ref());
        c.done()?;
        let currency = currency.expect("checked");
        let command = Command::Withdraw {
            key: Self::key(&member, currency),
            operation_id: op.clone(),
            amount,
            kind,
            withdraw_type,
            context: r.context.clone().unwrap_or_default(),
            now,
        };
        self.run("Withdraw", &op, &r, command, now).await
    }

    async fn hold(&self, r: pb::HoldRequest) -> Result<pb::OperationResult, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let hold_id = c.id("hold_id", &r.hold_id);
        let member = c.id("member_id", &r.member_id);
        let money = r.amount.clone().unwrap_or_default();
        let currency = c.currency(&catalog, "amount.currency", &money.currency);
        let amount = c.amount("amount.amount", &money.amount, currency);
        c.context(r.context.as_ref());
        let expires_at = c.hold_expiry("ttl_seconds", r.ttl_seconds, self.hold_ttl, now);
        c.done()?;
        let command = Command::Hold {
            key: Self::key(&member, currency.expect("checked")),
            hold_id: hold_id.clone(),
            amount,
            context: r.context.clone().unwrap_or_default(),
            now,
            expires_at,
        };
        self.run("Hold", &hold_id, &r, command, now).await
    }

    async fn capture(&self, r: pb::CaptureHoldRequest) -> Result<pb::OperationResult, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let op = c.operation_id("operation_id", &r.operation_id);
        let member = c.id("member_id", &r.member_id);
        let hold_id = c.id("hold_id", &r.hold_id);
        let currency = c.currency(&catalog, "currency", &r.currency);
        let amount = c.optional_amount("amount", &r.amount, currency);
        c.context(r.context.as_ref());
        c.done()?;
        let command = Command::Capture {
            key: Self::key(&member, currency.expect("checked")),
            operation_id: op.clone(),
            hold_id,
            amount,
            context: r.context.clone().unwrap_or_default(),
            now,
        };
        self.run("CaptureHold", &op, &r, command, now).await
    }

    async fn release(&self, r: pb::ReleaseHoldRequest) -> Result<pb::OperationResult, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let op = c.operation_id("operation_id", &r.operation_id);
        let member = c.id("member_id", &r.member_id);
        let hold_id = c.id("hold_id", &r.hold_id);
        let currency = c.currency(&catalog, "currency", &r.currency);
        c.context(r.context.as_ref());
        c.done()?;
        let command = Command::Release {
            key: Self::key(&member, currency.expect("checked")),
            operation_id: op.clone(),
            hold_id,
            context: r.context.clone().unwrap_or_default(),
            now,
        };
        self.run("ReleaseHold", &op, &r, command, now).await
    }

    async fn refund(&self, r: pb::RefundRequest) -> Result<pb::OperationResult, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let op = c.operation_id("operation_id", &r.operation_id);
        let member = c.id("member_id", &r.member_id);
        let original = c.id("original_operation_id", &r.original_operation_id);
        let currency = c.currency(&catalog, "currency", &r.currency);
        let amount = c.optional_amount("amount", &r.amount, currency);
        c.context(r.context.as_ref());
        c.done()?;
        let command = Command::Refund {
            key: Self::key(&member, currency.expect("checked")),
            operation_id: op.clone(),
            original_operation_id: original,
            amount,
            context: r.context.clone().unwrap_or_default(),
            now,
        };
        self.run("Refund", &op, &r, command, now).await
    }

    async fn balance(&self, r: pb::GetBalanceRequest) -> Result<pb::GetBalanceResponse, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let member = c.id("member_id", &r.member_id);
        let only = if r.currency.is_empty() {
            None
        } else {
            c.currency(&catalog, "currency", &r.currency)
        };
        c.done()?;
        let mut accounts = Vec::new();
        for currency in catalog.currencies() {
            if only.is_some_and(|o| o.id != currency.id) {
                continue;
            }
            let stream = Self::key(&member, currency).stream();
            let (account, version) = self.repo.load(&stream)?;
            if version == 0 && only.is_none() {
                continue;
            }
            let next = account.next_expiry(now);
            accounts.push(pb::AccountBalance {
                currency: currency.id.clone(),
                available: money::render(account.available(now), currency.precision),
                held: money::render(account.held(now), currency.precision),
                next_expiring_amount: money::render(
                    next.map_or(Decimal::ZERO, |(_, a)| a),
                    currency.precision,
                ),
                next_expiry: next.map(|(t, _)| t.into()),
            });
        }
        Ok(pb::GetBalanceResponse { accounts })
    }
}

/// A client stream that failed mid-upload (the client reset or cancelled
/// it, or the connection broke): the call is CANCELLED.
fn upload_broke_off(status: &Status) -> ApiError {
    ApiError::Cancelled(format!(
        "the upload broke off: {}",
        crate::domain::money::prefix(status.message())
    ))
}

fn reply<T>(
    r: Result<pb::OperationResult, ApiError>,
    wrap: impl FnOnce(Option<pb::OperationResult>) -> T,
) -> Result<Response<T>, Status> {
    Ok(Response::new(wrap(Some(r?))))
}

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    async fn accrue(
        &self,
        request: Request<pb::AccrueRequest>,
    ) -> Result<Response<pb::AccrueResponse>, Status> {
        reply(self.accrue(request.into_inner()).await, |result| {
            pb::AccrueResponse { result }
        })
    }

    async fn withdraw(
        &self,
        request: Request<pb::WithdrawRequest>,
    ) -> Result<Response<pb::WithdrawResponse>, Status> {
        reply(self.withdraw(request.into_inner()).await, |result| {
            pb::WithdrawResponse { result }
        })
    }

    async fn hold(
        &self,
        request: Request<pb::HoldRequest>,
    ) -> Result<Response<pb::HoldResponse>, Status> {
        reply(self.hold(request.into_inner()).await, |result| {
            pb::HoldResponse { result }
        })
    }

    async fn capture_hold(
        &self,
        request: Request<pb::CaptureHoldRequest>,
    ) -> Result<Response<pb::CaptureHoldResponse>, Status> {
        reply(self.capture(request.into_inner()).await, |result| {
            pb::CaptureHoldResponse { result }
        })
    }

    async fn release_hold(
        &self,
        request: Request<pb::ReleaseHoldRequest>,
    ) -> Result<Response<pb::ReleaseHoldResponse>, Status> {
        reply(self.release(request.into_inner()).await, |result| {
            pb::ReleaseHoldResponse { result }
        })
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::RefundResponse>, Status> {
        reply(self.refund(request.into_inner()).await, |result| {
            pb::RefundResponse { result }
        })
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::GetBalanceResponse>, Status> {
        Ok(Response::new(self.balance(request.into_inner()).await?))
    }

    async fn get_history(
        &self,
        request: Request<pb::GetHistoryRequest>,
    ) -> Result<Response<pb::GetHistoryResponse>, Status> {
        Ok(Response::new(self.history(request.into_inner()).await?))
    }

    async fn apply_batch(
        &self,
        request: Request<tonic::Streaming<pb::ApplyBatchRequest>>,
    ) -> Result<Response<pb::ApplyBatchResponse>, Status> {
        use futures::StreamExt;
        use pb::apply_batch_request::Part;
        let mut stream = request.into_inner();
        let header = match stream.next().await {
            Some(Ok(pb::ApplyBatchRequest {
                part: Some(Part::Header(h)),
            })) => h,
            Some(Err(status)) => return Err(status),
            _ => {
                return Err(ApiError::Invalid(vec![FieldViolation::new(
                    "header",
                    "the first message must carry the batch header",
                )])
                .into());
            }
        };
        let chunks = stream.map(|m| match m {
            Ok(pb::ApplyBatchRequest {
                part: Some(Part::Lines(l)),
            }) => Ok(BatchPart::Lines(l.lines)),
            Ok(pb::ApplyBatchRequest {
                part: Some(Part::Trailer(t)),
            }) => Ok(BatchPart::End(t)),
            Ok(_) => Err(ApiError::Invalid(vec![FieldViolation::new(
                "lines",
                "after the header, every message must carry lines or the trailer",
            )])),
            Err(status) => Err(upload_broke_off(&status)),
        });
        Ok(Response::new(self.batch.apply(header, chunks).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_that_breaks_off_is_cancelled() {
        let status: Status = upload_broke_off(&Status::cancelled("h2 stream reset")).into();
        assert_eq!(status.code(), tonic::Code::Cancelled);
        let status: Status = upload_broke_off(&Status::unknown("connection reset")).into();
        assert_eq!(status.code(), tonic::Code::Cancelled);
    }
}
