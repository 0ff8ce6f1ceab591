//! Batch balance changes (seed types 2-5) with the seed-004 report.
//!
//! Lines are applied as they stream in, a chunk at a time: each account's
//! lines of the chunk are decided together and written in one append, and
//! the chunk's accounts are written concurrently, so they share group
//! commits. Every line becomes an operation `batch/<requestId>/<line>` of
//! its account; the account knows the operations it has, so a batch re-sent
//! after a crash completes without doubling anything. When the last
//! line is done, a `BatchApplied` event stores the report under the batch's
//! own idempotency key (`batch/<requestId>`, hashed over the whole content):
//! the same batch again returns that report; different content under the
//! same `requestId` is refused.
//!
//! An upload ends with a trailer (line count and [`BatchDigest`]): only a
//! complete upload gets a report. One that ends without it (or with a
//! trailer that does not match) records no report, so the `requestId` stays
//! free for the same batch sent again; full chunks applied on the way are
//! recognised then and not applied twice.
//!
//! Each chunk's `memberNo`s are resolved through the [`MemberDirectory`]
//! (one or a few calls per chunk) before anything of the chunk is recorded
//! or applied: an unknown `memberNo` is a line error; a directory that
//! cannot answer fails the batch with [`ApiError::Unavailable`], leaving the
//! chunk untouched (chunks before it stay applied, and a retry under the
//! same `requestId` counts them as already applied).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use kit::aggregate::Repository;
use kit::log::{AppendOutcome, ExpectedVersion, IdempotencyRecord, LogError, Metadata, NewEvent};
use loyalty_proto::ledger::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;
use sha2::Digest;

use crate::app::catalog::CatalogHandle;
use crate::app::keys::IdempotencyKey;
use crate::domain::account::{Account, AccountKey, Command, Context, Kind, LineOutcome as Planned};
use crate::domain::catalog::{Catalog, Currency};
use crate::domain::ids::{self, IdFault};
use crate::domain::model::{RewardType, WithdrawType};
use crate::domain::money;
use crate::error::ApiError;
use crate::grpc::Clock;
use crate::members::MemberDirectory;

/// Accounts written concurrently.
pub const IN_FLIGHT: usize = 20_000;
/// Event type of a finished batch.
pub const BATCH_APPLIED: &str = "loyalty.ledger.v1.BatchApplied";
/// Event type of a chunk's fingerprint.
pub const BATCH_CHUNK_ACCEPTED: &str = "loyalty.ledger.v1.BatchChunkAccepted";
/// Format of `operationDate` without a zone (read as UTC).
mod members;
mod report;
mod upload;

pub use report::{MESSAGE_185, MESSAGE_188_PREFIX, parse_operation_date};
pub use upload::{BatchDigest, BatchPart};

use members::{Members, well_formed};
use report::{command_amount, report};
use upload::after_trailer;

/// Applies batches.
pub struct BatchApplier {
    repo: Arc<Repository<Account>>,
    catalog: Arc<CatalogHandle>,
    members: Arc<dyn MemberDirectory>,
    chunk_lines: usize,
    clock: Clock,
}

/// A validated header.
pub(crate) struct Header {
    pub(crate) request_id: String,
    pub(crate) kind: pb::BatchType,
    pub(crate) description: String,
    pub(crate) currency: Currency,
    pub(crate) lifetime: String,
    pub(crate) expires: crate::domain::catalog::Lifetime,
    /// The operator's id of a manual batch (types 4 and 5).
    pub(crate) operator_id: String,
    /// The catalog version the batch was checked against.
    pub(crate) catalog: Arc<Catalog>,
}

/// Outcome of one line: accepted amount or a rejection comment.
pub(crate) type LineOutcome = (u64, Result<Decimal, String>);

/// Lines validated and written per chunk.
const CHUNK_LINES: usize = 20_000;
/// Most lines of one account in one append.
const MAX_LINES_PER_APPEND: usize = 2_000;

impl BatchApplier {
    /// An applier over `repo`, resolving members through `members`.
    pub fn new(
        repo: Arc<Repository<Account>>,
        catalog: Arc<CatalogHandle>,
        members: Arc<dyn MemberDirectory>,
    ) -> Self {
        Self {
            repo,
            catalog,
            members,
            chunk_lines: CHUNK_LINES,
            clock: kit::clock::system(),
        }
    }

    /// Reads the time of each batch (bucket expiries, the lines' `now`)
    /// from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the lines per chunk (the unit of fingerprinting and writing).
    pub fn with_chunk_lines(mut self, lines: usize) -> Self {
        self.chunk_lines = lines.max(1);
        self
    }

    fn header(&self, h: &pb::BatchHeader) -> Result<Header, ApiError> {
        let mut violations = Vec::new();
        let mut fail =
            |field: &str, d: String| violations.push(tonic_types::FieldViolation::new(field, d));
        if let Err(fault) = ids::check(&h.request_id) {
            fail("header.request_id", fault.to_string());
        }
        if h.accrue_description.len() > crate::grpc::MAX_TEXT {
            fail(
                "header.accrue_description",
                format!("at most {} bytes are accepted", crate::grpc::MAX_TEXT),
            );
        }
        let kind = pb::BatchType::try_from(h.r#type).unwrap_or(pb::BatchType::Unspecified);
        if kind == pb::BatchType::Unspecified {
            fail(
                "header.type",
                format!("must be 2, 3, 4 or 5, got {}", h.r#type),
            );
        }
        let catalog = self.catalog.current();
        let currency = catalog.currency(&h.currency_external_id).cloned();
        if currency.is_none() {
            fail(
                "header.currency_external_id",
                format!("unknown currency {}", money::quote(&h.currency_external_id)),
            );
        }
        let lifetime = catalog.lifetime(&h.life_time_definition_external_id);
        if lifetime.is_none() {
            fail(
                "header.life_time_definition_external_id",
                format!(
                    "unknown lifetime definition {}",
                    money::quote(&h.life_time_definition_external_id)
                ),
            );
        }
        let manual = matches!(
            kind,
            pb::BatchType::ManualAccrue | pb::BatchType::ManualWithdraw
        );
        if manual && h.operator_id.trim().is_empty() {
            fail(
                "header.operator_id",
                "is required for a manual batch (types 4 and 5)".into(),
            );
        } else if let Err(IdFault::Malformed) = ids::check(&h.operator_id) {
            // Optional for other types: only a present, malformed one is refused.
            fail("header.operator_id", IdFault::Malformed.to_string());
        }
        match (currency, lifetime) {
            (Some(currency), Some((lifetime, expires))) if violations.is_empty() => Ok(Header {
                request_id: h.request_id.clone(),
                kind,
                description: h.accrue_description.clone(),
                currency,
                lifetime: lifetime.to_owned(),
                expires,
                operator_id: h.operator_id.clone(),
                catalog: Arc::clone(&catalog),
            }),
            _ => Err(ApiError::Invalid(violations)),
        }
    }

    /// Applies the batch whose header is `header` and whose lines come from
    /// `chunks`; returns the report.
    ///
    /// The upload must end with [`BatchPart::End`] naming the number of
    /// lines and the [`BatchDigest`] of what was sent; an upload that ends
    /// without it was aborted: no report is recorded (full chunks applied
    /// on the way stay applied, and the same batch sent again completes).
    pub async fn apply<S>(
        &self,
        header: pb::BatchHeader,
        mut parts: S,
    ) -> Result<pb::ApplyBatchResponse, ApiError>
    where
        S: futures::Stream<Item = Result<BatchPart, ApiError>> + Unpin,
    {
        let h = self.header(&header)?;
        let batch_key = IdempotencyKey::Batch(h.request_id.clone()).to_string();
        let mut digest = BatchDigest::new(&header);
        let log = self.repo.log();
        if let Some(stored) = log
            .lookup_idempotency(&batch_key)
            .map_err(|e| ApiError::Unexpected(e.into()))?
        {
            // Seen before: answer from the stored report if the content matches.
            let mut trailer = None;
            while let Some(part) = parts.next().await {
                match part? {
                    BatchPart::Lines(_) if trailer.is_some() => return Err(after_trailer()),
                    BatchPart::Lines(lines) => lines.iter().for_each(|l| digest.line(l)),
                    BatchPart::End(t) => trailer = Some(t),
                }
            }
            digest.check(trailer.as_ref())?;
            let hash = digest.hash();
            return match log.check_idempotency(&batch_key, &hash).await {
                Ok(_) => pb::ApplyBatchResponse::decode(stored.result.as_slice())
                    .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored report: {e}"))),
                Err(LogError::IdempotencyConflict { .. }) => {
                    Err(ApiError::IdempotencyConflict(h.request_id))
                }
                Err(e) => Err(ApiError::Unexpected(e.into())),
            };
        }
        let now = (self.clock)();
        let header_bytes = header.encode_length_delimited_to_vec();
        let applied_chunks = self.applied_chunks(&batch_key)?;
        let mut outcomes: Vec<LineOutcome> = Vec::new();
        let mut buffer: Vec<(u64, pb::BatchLine)> = Vec::with_capacity(self.chunk_lines);
        let mut next_line = 0u64;
        let mut trailer = None;
        while let Some(part) = parts.next().await {
            let chunk = match part? {
                BatchPart::Lines(_) if trailer.is_some() => return Err(after_trailer()),
                BatchPart::Lines(lines) => lines,
                BatchPart::End(t) => {
                    trailer = Some(t);
                    continue;
                }
            };
            for line in chunk {
                next_line += 1;
                digest.line(&line);
                buffer.push((next_line, line));
                if buffer.len() >= self.chunk_lines {
                    let lines = std::mem::take(&mut buffer);
                    let members = members::resolve(self.members.as_ref(), &lines).await?;
                    self.check_chunk(&h, &batch_key, &header_bytes, &applied_chunks, &lines)
                        .await?;
                    outcomes.extend(self.apply_chunk(&h, lines, &members, now).await?);
                }
            }
        }
        // The last (partial) chunk only once the upload is known complete.
        digest.check(trailer.as_ref())?;
        if !buffer.is_empty() {
            let members = members::resolve(self.members.as_ref(), &buffer).await?;
            self.check_chunk(&h, &batch_key, &header_bytes, &applied_chunks, &buffer)
                .await?;
            outcomes.extend(self.apply_chunk(&h, buffer, &members, now).await?);
        }
        let hash = digest.hash();
        let report = report(&h, &h.catalog, next_line, outcomes);
        let event = pb::BatchApplied {
            request_id: h.request_id.clone(),
            r#type: h.kind as i32,
            currency: h.currency.id.clone(),
            accepted_count: report.accepted_count,
            accepted_sum: report.accepted_sum.clone(),
            error_count: report.error_count,
            code: report.code,
        };
        let outcome = log
            .append_idempotent(
                &batch_key,
                ExpectedVersion::Any,
                vec![batch_record(BATCH_APPLIED, &event, &h.request_id)],
                IdempotencyRecord {
                    key: batch_key.clone(),
                    request_hash: hash,
                    result: report.encode_to_vec(),
                    refused: false,
                },
            )
            .await;
        match outcome {
            Ok(AppendOutcome::Appended(_)) => Ok(report),
            // A concurrent upload of the same batch finished first.
            Ok(AppendOutcome::Duplicate(stored)) => {
                pb::ApplyBatchResponse::decode(stored.result.as_slice())
                    .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored report: {e}")))
            }
            Err(LogError::IdempotencyConflict { .. } | LogError::Conflict { .. }) => {
                Err(ApiError::IdempotencyConflict(h.request_id.clone()))
            }
            Err(e) => Err(ApiError::Unexpected(e.into())),
        }
    }

    /// Fingerprints of the chunks an earlier upload of this batch recorded,
    /// by first line.
    fn applied_chunks(&self, batch_key: &str) -> Result<HashMap<u64, String>, ApiError> {
        let events = match self.repo.log().read_stream(batch_key, 0) {
            Ok(events) => events,
            Err(LogError::StreamNotFound(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(ApiError::Unexpected(e.into())),
        };
        Ok(events
            .iter()
            .filter(|e| e.event_type == BATCH_CHUNK_ACCEPTED)
            .filter_map(|e| pb::BatchChunkAccepted::decode(e.payload.as_slice()).ok())
            .map(|c| (c.first_line, c.fingerprint))
            .collect())
    }

    /// Before a chunk is applied: if an earlier upload of the batch applied
    /// a chunk starting at the same line, it must have the same content;
    /// otherwise the chunk's fingerprint is recorded (durably) first.
    async fn check_chunk(
        &self,
        h: &Header,
        batch_key: &str,
        header_bytes: &[u8],
        applied: &HashMap<u64, String>,
        lines: &[(u64, pb::BatchLine)],
    ) -> Result<(), ApiError> {
        let Some(first_line) = lines.first().map(|(n, _)| *n) else {
            return Ok(());
        };
        let mut hasher = sha2::Sha256::new();
        hasher.update(header_bytes);
        for (_, line) in lines {
            hasher.update(line.encode_length_delimited_to_vec());
        }
        let fingerprint = hex::encode(hasher.finalize());
        match applied.get(&first_line) {
            Some(earlier) if *earlier == fingerprint => Ok(()),
            Some(_) => Err(ApiError::IdempotencyConflict(h.request_id.clone())),
            None => {
                let record = pb::BatchChunkAccepted {
                    request_id: h.request_id.clone(),
                    first_line,
                    line_count: lines.len() as u64,
                    fingerprint,
                };
                self.repo
                    .log()
                    .append(
                        batch_key,
                        ExpectedVersion::Any,
                        vec![batch_record(BATCH_CHUNK_ACCEPTED, &record, &h.request_id)],
                    )
                    .await
                    .map_err(|e| ApiError::Unexpected(e.into()))?;
                Ok(())
            }
        }
    }

    /// Validates one line into a command for its account, its member
    /// resolved through `members`.
    fn validate_line(
        &self,
        h: &Header,
        n: u64,
        line: pb::BatchLine,
        members: &Members,
        now: DateTime<Utc>,
    ) -> Result<(AccountKey, Command), String> {
        if !line.malformed.is_empty() {
            let reason: String = line.malformed.chars().take(200).collect();
            return Err(format!("Неверный формат строки: {reason}"));
        }
        for (field, value, max) in [
            ("Description", &line.description, crate::grpc::MAX_TEXT),
            (
                "merchantName",
                &line.merchant_name,
                crate::grpc::MAX_SHORT_TEXT,
            ),
            ("transactionAmount", &line.transaction_amount, 40),
            ("operationDate", &line.operation_date, 64),
        ] {
            if value.len() > max {
                return Err(format!(
                    "Неверно задано значение поля {field}: at most {max} bytes are accepted"
                ));
            }
        }
        let amount = h
            .currency
            .parse_amount(&line.points_amount)
            .map_err(|e| format!("pointsAmount: {e}"))?;
        let transaction = line.transaction_amount.trim();
        if !transaction.is_empty() && transaction.parse::<Decimal>().is_err() {
            return Err(format!(
                "transactionAmount: {} is not a decimal number",
                money::quote(transaction)
            ));
        }
        let operation_time = parse_operation_date(&line.operation_date).ok_or_else(|| {
            format!(
                "operationDate: {} is not YYYY-MM-DD HH:MM:SS (UTC) or an RFC 3339 time with its zone",
                money::quote(&line.operation_date)
            )
        })?;
        let member_no = line.member_no.trim();
        if !well_formed(member_no) {
            return Err(format!(
                "memberNo {} is missing or malformed",
                money::quote(member_no)
            ));
        }
        let member = match members.get(member_no) {
            Some(Some(m)) if well_formed(m) => m.clone(),
            Some(Some(m)) => {
                return Err(format!(
                    "memberNo {} resolved to an unusable member id {}",
                    money::quote(member_no),
                    money::quote(m)
                ));
            }
            _ => {
                return Err(format!("memberNo {} is unknown", money::quote(member_no)));
            }
        };
        let key = AccountKey {
            member_id: member,
            currency: h.currency.id.clone(),
        };
        let operation_id = format!("batch/{}/{n}", h.request_id);
        let description = if line.description.is_empty() {
            h.description.clone()
        } else {
            line.description
        };
        let context = Context {
            description,
            reason: "batch".into(),
            merchant_name: line.merchant_name.trim().to_owned(),
            batch_id: h.request_id.clone(),
            operation_time: Some(operation_time),
            transaction_amount: transaction.to_owned(),
            operator_id: h.operator_id.clone(),
            ..Default::default()
        };
        let manual = matches!(
            h.kind,
            pb::BatchType::ManualAccrue | pb::BatchType::ManualWithdraw
        );
        let kind = if manual { Kind::Manual } else { Kind::Regular };
        let command = match h.kind {
            pb::BatchType::Accrue | pb::BatchType::ManualAccrue => Command::Accrue {
                key: key.clone(),
                operation_id,
                amount,
                lifetime: h.lifetime.clone(),
                expires_at: h.expires.expires_at(now),
                kind,
                reward_type: RewardType::Bonus,
                context,
                now,
            },
            _ => Command::Withdraw {
                key: key.clone(),
                operation_id,
                amount,
                kind,
                withdraw_type: WithdrawType::Withdraw,
                context,
                now,
            },
        };
        Ok((key, command))
    }

    /// Applies a chunk of lines: each account's lines go in one append, and
    /// the accounts of the chunk are written concurrently (one group commit).
    async fn apply_chunk(
        &self,
        h: &Header,
        lines: Vec<(u64, pb::BatchLine)>,
        members: &Members,
        now: DateTime<Utc>,
    ) -> Result<Vec<LineOutcome>, ApiError> {
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut groups: HashMap<AccountKey, (Vec<u64>, Vec<Command>)> = HashMap::new();
        for (n, line) in lines {
            match self.validate_line(h, n, line, members, now) {
                Ok((key, command)) => {
                    let group = groups.entry(key).or_default();
                    group.0.push(n);
                    group.1.push(command);
                }
                Err(comment) => outcomes.push((n, Err(comment))),
            }
        }
        // One append per account, split so no append exceeds the log's
        // per-append limit (leaving room for expiry events).
        let groups = groups.into_iter().flat_map(|(key, (numbers, commands))| {
            let parts: Vec<(Vec<u64>, Vec<Command>)> = numbers
                .chunks(MAX_LINES_PER_APPEND)
                .zip(commands.chunks(MAX_LINES_PER_APPEND))
                .map(|(n, c)| (n.to_vec(), c.to_vec()))
                .collect();
            parts.into_iter().map(move |part| (key.clone(), part))
        });
        let mut in_flight = FuturesUnordered::new();
        for (key, (numbers, commands)) in groups {
            in_flight.push(async move {
                let stream = key.stream();
                let metadata = Metadata {
                    correlation_id: Some(h.request_id.clone()),
                    ..Metadata::default()
                };
                let (_, planned) = self
                    .repo
                    .execute_with(
                        &stream,
                        |account: &Account| Ok(account.plan_lines(&key, &commands, now)),
                        None,
                        metadata,
                        |_, _| Vec::new(),
                    )
                    .await?;
                let planned = planned.unwrap_or_default();
                Ok::<_, ApiError>(
                    numbers
                        .into_iter()
                        .zip(commands.iter().zip(planned))
                        .map(|(n, (command, outcome))| match outcome {
                            Planned::Applied | Planned::AlreadyApplied => {
                                (n, Ok(command_amount(command)))
                            }
                            Planned::Rejected(reason) => (n, Err(reason)),
                        })
                        .collect::<Vec<_>>(),
                )
            });
            if in_flight.len() >= IN_FLIGHT
                && let Some(done) = in_flight.next().await
            {
                outcomes.extend(done?);
            }
        }
        while let Some(done) = in_flight.next().await {
            outcomes.extend(done?);
        }
        Ok(outcomes)
    }
}

/// A batch's own record (`event_type`, `message`) in its stream,
/// correlated with the batch's request id.
fn batch_record(event_type: &str, message: &impl Message, request_id: &str) -> NewEvent {
    NewEvent {
        event_type: event_type.into(),
        payload: message.encode_to_vec(),
        metadata: Metadata {
            correlation_id: Some(request_id.to_owned()),
            ..Metadata::default()
        },
    }
}
