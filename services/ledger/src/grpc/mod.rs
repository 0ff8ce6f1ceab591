//! The ledger's gRPC edge: converts requests into domain commands
//! ([`convert`]), runs them through the use cases ([`crate::app`]), and
//! renders the answers ([`render`]). No rule of the ledger lives here.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kit::aggregate::Repository;
use kit::log::request_hash;
use kit::projection::ProjectionHandle;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_server::LedgerService;
use prost::Message;
use tonic::{Request, Response, Status};
use tonic_types::FieldViolation;

use crate::app::batch::{BatchApplier, BatchPart};
use crate::app::catalog::CatalogHandle;
use crate::app::operations::{AccountState, Operations};
use crate::config::HoldTtl;
use crate::domain::account::{Account, AccountKey};
use crate::error::ApiError;
use crate::projections::history;

pub mod catalog;
mod check;
mod convert;
mod render;

use check::Check;
use convert::{Converted, Edge};
use render::{balance_of, result_of, settlement_of};

/// Longest accepted description, in bytes.
pub const MAX_TEXT: usize = 1024;
/// Longest accepted reason or merchant name, in bytes.
pub const MAX_SHORT_TEXT: usize = 256;

/// Operation-id prefixes of the ledger's own operations (batch lines
/// `batch/<requestId>/<line>`, consumed events `social/...`, a purchase's
/// captures and releases `purchase/<hold_id>`): refused from callers so a
/// caller's operation can never pass for one of them.
const RESERVED_PREFIXES: [&str; 3] = [
    "batch/",
    "social/",
    crate::domain::account::PURCHASE_OPERATION_PREFIX,
];

/// The clock: the kit's one injectable [`kit::clock::Clock`].
pub use kit::clock::Clock;

/// The gRPC service: converts requests into commands, runs them through the
/// use cases, renders the answers.
pub struct LedgerApi {
    ops: Operations,
    catalog: Arc<CatalogHandle>,
    clock: Clock,
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
            ops: Operations::new(repo, history),
            catalog,
            clock,
            batch,
            hold_ttl: HoldTtl::default(),
        }
    }

    /// The same service with holds' time-to-live `settings`.
    pub fn with_hold_ttl(mut self, settings: HoldTtl) -> Self {
        self.hold_ttl = settings;
        self
    }

    /// Converts `request` with `convert` and runs it as `method`: the answer
    /// is the result stored under the command's idempotency key.
    async fn operation<M: Message>(
        &self,
        method: &str,
        request: Request<M>,
        convert: impl FnOnce(&M, &Edge<'_>) -> Result<Converted, ApiError>,
    ) -> Result<Option<pb::OperationResult>, ApiError> {
        self.run(method, request, convert, result_of)
            .await
            .map(Some)
    }

    /// Converts `request` with `convert`, runs it as `method`, and answers
    /// what `render` made of its events (stored under the command's
    /// idempotency key, so a repeat answers the same).
    async fn run<M: Message, R: Message + Default>(
        &self,
        method: &str,
        request: Request<M>,
        convert: impl FnOnce(&M, &Edge<'_>) -> Result<Converted, ApiError>,
        render: impl Fn(&[crate::domain::account::Event], DateTime<Utc>, u32) -> R,
    ) -> Result<R, ApiError> {
        let request = request.into_inner();
        let catalog = self.catalog.current();
        let now = (self.clock)();
        let edge = Edge {
            catalog: &catalog,
            now,
            hold_ttl: self.hold_ttl,
        };
        let Converted {
            key,
            command,
            currency,
        } = convert(&request, &edge)?;
        let precision = currency.precision;
        // The method is part of the hash: the same id under another method
        // is another request.
        let mut hashed = Vec::with_capacity(method.len() + 1 + request.encoded_len());
        hashed.extend_from_slice(method.as_bytes());
        hashed.push(0);
        request
            .encode(&mut hashed)
            .map_err(|e| ApiError::Unexpected(e.into()))?;
        let stored = self
            .ops
            .execute(key, request_hash(&hashed), &command, |events| {
                render(events, now, precision).encode_to_vec()
            })
            .await?;
        R::decode(stored.as_slice())
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored reply: {e}")))
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
        let states = match only {
            Some(currency) => self.ops.balances(&member, [currency], true)?,
            None => self
                .ops
                .balances(&member, catalog.currencies().cloned(), false)?,
        };
        Ok(pb::GetBalanceResponse {
            accounts: states.iter().map(|s| balance_of(s, now)).collect(),
        })
    }

    async fn open(&self, r: pb::OpenAccountRequest) -> Result<pb::OpenAccountResponse, ApiError> {
        let now = (self.clock)();
        let catalog = self.catalog.current();
        let mut c = Check::default();
        let member = c.id("member_id", &r.member_id);
        let currency = c.currency(&catalog, "currency", &r.currency);
        let currency = c.done_with(currency)?;
        let key = AccountKey {
            member_id: member,
            currency: currency.id.clone(),
        };
        let account = self.ops.open(&key, now).await?;
        Ok(pb::OpenAccountResponse {
            account: Some(balance_of(&AccountState { currency, account }, now)),
        })
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
        let (all_count, rows) = self.ops.history(&member, &filter).await?;
        Ok(pb::GetHistoryResponse { all_count, rows })
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

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    async fn accrue(
        &self,
        request: Request<pb::AccrueRequest>,
    ) -> Result<Response<pb::AccrueResponse>, Status> {
        let result = self.operation("Accrue", request, convert::accrue).await?;
        Ok(Response::new(pb::AccrueResponse { result }))
    }

    async fn withdraw(
        &self,
        request: Request<pb::WithdrawRequest>,
    ) -> Result<Response<pb::WithdrawResponse>, Status> {
        let result = self
            .operation("Withdraw", request, convert::withdraw)
            .await?;
        Ok(Response::new(pb::WithdrawResponse { result }))
    }

    async fn hold(
        &self,
        request: Request<pb::HoldRequest>,
    ) -> Result<Response<pb::HoldResponse>, Status> {
        let result = self.operation("Hold", request, convert::hold).await?;
        Ok(Response::new(pb::HoldResponse { result }))
    }

    async fn capture_hold(
        &self,
        request: Request<pb::CaptureHoldRequest>,
    ) -> Result<Response<pb::CaptureHoldResponse>, Status> {
        let result = self
            .operation("CaptureHold", request, convert::capture)
            .await?;
        Ok(Response::new(pb::CaptureHoldResponse { result }))
    }

    async fn release_hold(
        &self,
        request: Request<pb::ReleaseHoldRequest>,
    ) -> Result<Response<pb::ReleaseHoldResponse>, Status> {
        let result = self
            .operation("ReleaseHold", request, convert::release)
            .await?;
        Ok(Response::new(pb::ReleaseHoldResponse { result }))
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::RefundResponse>, Status> {
        let result = self.operation("Refund", request, convert::refund).await?;
        Ok(Response::new(pb::RefundResponse { result }))
    }

    async fn accrue_pending(
        &self,
        request: Request<pb::AccruePendingRequest>,
    ) -> Result<Response<pb::AccruePendingResponse>, Status> {
        let result = self
            .operation("AccruePending", request, convert::accrue_pending)
            .await?;
        Ok(Response::new(pb::AccruePendingResponse { result }))
    }

    async fn confirm_purchase(
        &self,
        request: Request<pb::ConfirmPurchaseRequest>,
    ) -> Result<Response<pb::ConfirmPurchaseResponse>, Status> {
        let settlement = self
            .run(
                "ConfirmPurchase",
                request,
                convert::confirm_purchase,
                settlement_of,
            )
            .await?;
        Ok(Response::new(pb::ConfirmPurchaseResponse {
            settlement: Some(settlement),
        }))
    }

    async fn cancel_purchase(
        &self,
        request: Request<pb::CancelPurchaseRequest>,
    ) -> Result<Response<pb::CancelPurchaseResponse>, Status> {
        let settlement = self
            .run(
                "CancelPurchase",
                request,
                convert::cancel_purchase,
                settlement_of,
            )
            .await?;
        Ok(Response::new(pb::CancelPurchaseResponse {
            settlement: Some(settlement),
        }))
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::GetBalanceResponse>, Status> {
        Ok(Response::new(self.balance(request.into_inner()).await?))
    }

    async fn open_account(
        &self,
        request: Request<pb::OpenAccountRequest>,
    ) -> Result<Response<pb::OpenAccountResponse>, Status> {
        Ok(Response::new(self.open(request.into_inner()).await?))
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
