//! Batch balance changes (seed 001, types 2-5) for operators:
//! `POST Batch/BalanceChanges` with the seed's JSON (`requestId`, `type`,
//! `accrueDescription`, `currencyExternalId`, `lifeTimeDefinitionExternalId`,
//! `accrue: [...]`) or a CSV file (`Content-Type: text/csv`, the header's
//! fields as query parameters). The body is streamed to the ledger's
//! `ApplyBatch` as it arrives (never held whole); the answer is seed 004's
//! report: JSON in the envelope by default, seed 004's CSV with
//! `Accept: text/csv` or `?format=csv`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use loyalty_proto::ledger::v1 as pb;
use serde::Deserialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::App;
use crate::envelope::{Envelope, ErrorAnswer};
use crate::error::GatewayError;

/// Largest batch body, in bytes (about 4 million lines).
pub const MAX_BATCH_BYTES: u64 = 512 * 1024 * 1024;
/// Messages of the upload in flight between the body's reader and the
/// ledger.
const IN_FLIGHT: usize = 8;

/// The query: the report's format, and for CSV the batch's header.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchQuery {
    /// `csv` for seed 004's CSV report (or `Accept: text/csv`).
    pub format: Option<String>,
    /// CSV: the batch's `requestId`.
    pub request_id: String,
    /// CSV: the batch's `type` (2 accrue, 3 withdraw, 4 manual accrue, 5
    /// manual withdraw).
    #[serde(rename = "type")]
    pub kind: Option<i32>,
    /// CSV: `accrueDescription`.
    pub accrue_description: String,
    /// CSV: `currencyExternalId`.
    pub currency_external_id: String,
    /// CSV: `lifeTimeDefinitionExternalId`.
    pub life_time_definition_external_id: String,
}

fn is_csv_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/csv"))
}

/// Applies a batch of balance changes and answers seed 004's report.
#[utoipa::path(post, path = "/api/v1/Batch/BalanceChanges", tag = "Operators",
    params(
        ("format" = Option<String>, Query, description = "`csv` for seed 004's CSV report"),
        ("requestId" = Option<String>, Query, description = "CSV bodies: the batch's requestId"),
        ("type" = Option<i32>, Query, description = "CSV bodies: 2 accrue, 3 withdraw, 4 manual accrue, 5 manual withdraw"),
        ("accrueDescription" = Option<String>, Query, description = "CSV bodies"),
        ("currencyExternalId" = Option<String>, Query, description = "CSV bodies"),
        ("lifeTimeDefinitionExternalId" = Option<String>, Query, description = "CSV bodies"),
    ),
    request_body(content(
        (serde_json::Value = "application/json", example = json!({"requestId": "123", "type": 2, "accrueDescription": "string", "accrue": [{"memberNo": "012345", "Description": "string", "operationDate": "2013-08-14 12:26:14", "merchantName": "merchantName", "transactionAmount": 152246.54, "pointsAmount": 1522.46}]})),
        (String = "text/csv", example = "memberNo,Description,operationDate,merchantName,transactionAmount,pointsAmount\n012345,string,2013-08-14 12:26:14,merchantName,152246.54,1522.46\n"),
    )),
    responses(
        (status = 200, description = "Seed 004's report (JSON in the envelope, or CSV); lines in error are listed, the others applied", body = Envelope<serde_json::Value>),
        (status = 400, description = "The body cannot be read on (nothing applied), or an invalid header", body = Envelope<serde_json::Value>),
        (status = 401, description = "No or unknown API key", body = Envelope<serde_json::Value>),
        (status = 403, description = "Not an operator's key", body = Envelope<serde_json::Value>),
        (status = 413, description = "Larger than 512 MiB", body = Envelope<serde_json::Value>), ErrorAnswer),
    security(("api_key" = [])))]
pub async fn balance_changes(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Response {
    match apply(&app, &headers, query, body).await {
        Ok((report, q)) if super::wants_csv(&headers, q.format.as_deref()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            ledger::batch_file::report_csv(&report),
        )
            .into_response(),
        Ok((report, _)) => {
            let json: serde_json::Value =
                serde_json::from_str(&ledger::batch_file::report_json(&report))
                    .unwrap_or(serde_json::Value::Null);
            Envelope::ok(json).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn apply(
    app: &App,
    headers: &HeaderMap,
    query: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<(pb::ApplyBatchResponse, BatchQuery), GatewayError> {
    let operator = app.keys.operator(headers)?;
    let Query(q) =
        query.map_err(|e| GatewayError::invalid("query", super::without_values(&e.body_text())))?;
    let header = ledger::batch_file::CsvHeader {
        request_id: q.request_id.clone(),
        r#type: q.kind.unwrap_or_default(),
        description: q.accrue_description.clone(),
        currency: q.currency_external_id.clone(),
        lifetime: q.life_time_definition_external_id.clone(),
        operator_id: operator.name.clone(),
    };
    let csv = is_csv_body(headers);
    // The body as a reader, cut at MAX_BATCH_BYTES.
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > MAX_BATCH_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "too large",
            ));
        }
        Ok(chunk)
    });
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let (tx, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let reading = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::with_capacity(1 << 16, reader);
        ledger::batch_file::read_from(reader, csv, &header, &tx)
    });
    let up = &app.upstream;
    let answer = up
        .ledger()
        .apply_batch(up.request(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .await;
    let read = reading
        .await
        .map_err(|e| anyhow::anyhow!("the batch reader stopped: {e}"))?;
    if let Err(e) = read {
        let too_large = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::FileTooLarge)
        });
        return Err(if too_large {
            GatewayError::TooLarge
        } else {
            GatewayError::invalid(
                "body",
                format!(
                    "cannot be read on; nothing was applied: {}",
                    super::without_values(&e.to_string())
                ),
            )
        });
    }
    Ok((answer?.into_inner(), q))
}
