//! `ledger batch apply FILE`: streams a batch file (the seed's JSON, or CSV)
//! to a running ledger's `ApplyBatch` without holding the file in memory,
//! with progress, and returns the seed-004 report.
//!
//! JSON: `{"requestId", "type", "accrueDescription", "currencyExternalId",
//! "lifeTimeDefinitionExternalId", "accrue": [{"memberNo", "Description",
//! "operationDate", "merchantName", "transactionAmount", "pointsAmount"}]}`;
//! the header fields must come before `accrue`. Amounts may be JSON numbers
//! (read exactly as written, never through floating point) or strings.
//!
//! CSV: a header row naming the line fields (`memberNo,Description,
//! operationDate,merchantName,transactionAmount,pointsAmount`); the batch
//! header comes from the command's flags.

use std::cell::RefCell;
use std::fmt;
use std::io::{BufRead, Read};
use std::path::Path;

use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::apply_batch_request::Part;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::app::batch::BatchDigest;

/// Lines per gRPC message.
const CHUNK: usize = 1_000;

/// A JSON amount: a number written as-is, or a string.
fn amount_text(raw: Option<&RawValue>) -> Result<String, String> {
    let Some(raw) = raw else {
        return Ok(String::new());
    };
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|e| e.to_string())
    } else {
        Ok(text.to_owned())
    }
}

#[derive(Deserialize)]
struct JsonLine<'a> {
    #[serde(rename = "memberNo", default)]
    member_no: String,
    #[serde(rename = "Description", alias = "description", default)]
    description: String,
    #[serde(rename = "operationDate", default)]
    operation_date: String,
    #[serde(rename = "merchantName", default)]
    merchant_name: String,
    #[serde(rename = "transactionAmount", borrow, default)]
    transaction_amount: Option<&'a RawValue>,
    #[serde(rename = "pointsAmount", borrow, default)]
    points_amount: Option<&'a RawValue>,
}

impl JsonLine<'_> {
    fn into_line(self) -> Result<pb::BatchLine, String> {
        Ok(pb::BatchLine {
            member_no: self.member_no,
            description: self.description,
            operation_date: self.operation_date,
            merchant_name: self.merchant_name,
            transaction_amount: amount_text(self.transaction_amount)?,
            points_amount: amount_text(self.points_amount)?,
            malformed: String::new(),
        })
    }
}

/// The upload being sent: the channel, and the digest of what was sent so
/// far (the trailer ends the upload with it).
struct Upload<'a> {
    tx: &'a mpsc::Sender<pb::ApplyBatchRequest>,
    digest: RefCell<Option<BatchDigest>>,
}

/// Sends messages for the upload.
type Sink<'a> = &'a Upload<'a>;

/// Sends `part`; `false` once the receiver is gone.
fn send(sink: Sink<'_>, part: Part) -> bool {
    {
        let mut digest = sink.digest.borrow_mut();
        match &part {
            Part::Header(h) => *digest = Some(BatchDigest::new(h)),
            Part::Lines(l) => {
                if let Some(d) = digest.as_mut() {
                    l.lines.iter().for_each(|line| d.line(line));
                }
            }
            Part::Trailer(_) => {}
        }
    }
    sink.tx
        .blocking_send(pb::ApplyBatchRequest { part: Some(part) })
        .is_ok()
}

/// A line the file has but that could not be read: sent as such, so the
/// ledger reports it as a line error and the line numbers stay right.
fn malformed(reason: impl fmt::Display) -> pb::BatchLine {
    pb::BatchLine {
        malformed: reason.to_string(),
        ..Default::default()
    }
}

fn send_lines(sink: Sink<'_>, lines: &mut Vec<pb::BatchLine>) {
    if !lines.is_empty() {
        send(
            sink,
            Part::Lines(pb::BatchLines {
                lines: std::mem::take(lines),
            }),
        );
    }
}

/// Streams the `accrue` array into the sink.
struct LinesSeed<'s> {
    sink: Sink<'s>,
}

impl<'de> DeserializeSeed<'de> for LinesSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LinesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of batch lines")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut buffer = Vec::with_capacity(CHUNK);
        // Lines borrow from the input only while they are converted.
        // A syntax error ends the reading (and the upload, without its
        // trailer); a well-formed element that is not a line is a line error.
        while let Some(line) = seq.next_element::<Box<RawValue>>()? {
            let parsed = serde_json::from_str::<JsonLine>(line.get())
                .map_err(|e| e.to_string())
                .and_then(JsonLine::into_line);
            buffer.push(parsed.unwrap_or_else(malformed));
            if buffer.len() == CHUNK {
                send_lines(self.sink, &mut buffer);
            }
        }
        send_lines(self.sink, &mut buffer);
        Ok(())
    }
}

/// Reads the top-level object: header fields, then `accrue`.
struct FileVisitor<'s> {
    sink: Sink<'s>,
    /// `--operator-id`, unless the file names its own `operatorId`.
    operator_id: &'s str,
}

impl<'de> Visitor<'de> for FileVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a batch object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let mut header = pb::BatchHeader {
            operator_id: self.operator_id.to_owned(),
            ..Default::default()
        };
        let mut sent_header = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "requestId" => {
                    header.request_id = match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    }
                }
                "type" => header.r#type = map.next_value()?,
                "accrueDescription" => {
                    header.accrue_description =
                        map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                "currencyExternalId" => {
                    header.currency_external_id =
                        map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                "operatorId" => {
                    header.operator_id = map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                "lifeTimeDefinitionExternalId" => {
                    header.life_time_definition_external_id =
                        map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                "accrue" => {
                    if header.request_id.is_empty() {
                        return Err(de::Error::custom(
                            "requestId and type must come before accrue",
                        ));
                    }
                    send(self.sink, Part::Header(header.clone()));
                    sent_header = true;
                    map.next_value_seed(LinesSeed { sink: self.sink })?;
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        if !sent_header {
            send(self.sink, Part::Header(header));
        }
        Ok(())
    }
}

/// Header flags for CSV files.
#[derive(Debug, Clone, Default)]
pub struct CsvHeader {
    /// `requestId`.
    pub request_id: String,
    /// `type` (2-5).
    pub r#type: i32,
    /// `accrueDescription`.
    pub description: String,
    /// `currencyExternalId`.
    pub currency: String,
    /// `lifeTimeDefinitionExternalId`.
    pub lifetime: String,
    /// The operator's id (required for manual batches, types 4 and 5); for
    /// JSON files too, where the file's own `operatorId` takes precedence.
    pub operator_id: String,
}

#[derive(Deserialize)]
struct CsvLine {
    #[serde(rename = "memberNo")]
    member_no: String,
    #[serde(rename = "Description", alias = "description", default)]
    description: String,
    #[serde(rename = "operationDate", default)]
    operation_date: String,
    #[serde(rename = "merchantName", default)]
    merchant_name: String,
    #[serde(rename = "transactionAmount", default)]
    transaction_amount: String,
    #[serde(rename = "pointsAmount", default)]
    points_amount: String,
}

/// Parses `path` (JSON unless it ends in `.csv`) into `tx`, on the calling
/// (blocking) thread, and ends the upload with its trailer. A line that
/// cannot be read (a field of the wrong type, a CSV row with too many
/// fields) is sent as a malformed line, reported by the ledger as a line
/// error; a file that cannot be read on (a JSON syntax error, an I/O error)
/// is an error, and the upload ends without its trailer, so the ledger
/// records nothing under the `requestId`.
pub fn read(
    path: &Path,
    csv_header: &CsvHeader,
    tx: &mpsc::Sender<pb::ApplyBatchRequest>,
) -> anyhow::Result<()> {
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    read_from(file, csv, csv_header, tx)
}

/// [`read`] from any reader (an HTTP body, say): CSV when `csv`, else the
/// seed's JSON.
pub fn read_from(
    reader: impl std::io::Read,
    csv: bool,
    csv_header: &CsvHeader,
    tx: &mpsc::Sender<pb::ApplyBatchRequest>,
) -> anyhow::Result<()> {
    let upload = Upload {
        tx,
        digest: RefCell::new(None),
    };
    read_into(reader, csv, csv_header, &upload)?;
    let trailer = upload.digest.borrow().as_ref().map(BatchDigest::trailer);
    if let Some(t) = trailer {
        send(&upload, Part::Trailer(t));
    }
    Ok(())
}

fn read_into(
    file: impl std::io::Read,
    csv: bool,
    csv_header: &CsvHeader,
    sink: Sink<'_>,
) -> anyhow::Result<()> {
    if csv {
        send(
            sink,
            Part::Header(pb::BatchHeader {
                request_id: csv_header.request_id.clone(),
                r#type: csv_header.r#type,
                accrue_description: csv_header.description.clone(),
                currency_external_id: csv_header.currency.clone(),
                life_time_definition_external_id: csv_header.lifetime.clone(),
                operator_id: csv_header.operator_id.clone(),
            }),
        );
        let mut buffer = Vec::with_capacity(CHUNK);
        for (i, row) in csv::Reader::from_reader(file)
            .deserialize::<CsvLine>()
            .enumerate()
        {
            let line = match row {
                Ok(l) => pb::BatchLine {
                    member_no: l.member_no,
                    description: l.description,
                    operation_date: l.operation_date,
                    merchant_name: l.merchant_name,
                    transaction_amount: l.transaction_amount,
                    points_amount: l.points_amount,
                    malformed: String::new(),
                },
                Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                    return Err(anyhow::anyhow!("line {}: {e}", i + 1));
                }
                Err(e) => malformed(e),
            };
            buffer.push(line);
            if buffer.len() == CHUNK {
                send_lines(sink, &mut buffer);
            }
        }
        send_lines(sink, &mut buffer);
    } else {
        let mut de = serde_json::Deserializer::from_reader(file);
        de::Deserializer::deserialize_map(
            &mut de,
            FileVisitor {
                sink,
                operator_id: &csv_header.operator_id,
            },
        )?;
        de.end()?;
    }
    Ok(())
}

/// Counts the lines of a batch file cheaply (for the progress bar).
pub fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let mut file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let mut n = 0u64;
        let mut buf = Vec::new();
        while file.read_until(b'\n', &mut buf)? > 0 {
            n += 1;
            buf.clear();
        }
        return Ok(n.saturating_sub(1));
    }
    let needle = b"\"memberNo\"";
    let mut n = 0u64;
    let mut carry = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            return Ok(n);
        }
        carry.extend_from_slice(&chunk[..read]);
        n += carry.windows(needle.len()).filter(|w| w == needle).count() as u64;
        let keep = carry.len().saturating_sub(needle.len() - 1);
        carry.drain(..keep);
    }
}

/// Streams the batch file at `path` to the ledger at `url` and returns its
/// report, showing progress.
pub async fn apply(
    url: &str,
    path: &Path,
    csv_header: CsvHeader,
    token: &kit::auth::ServiceToken,
) -> anyhow::Result<pb::ApplyBatchResponse> {
    use futures::StreamExt;
    let total = count_lines(path)?;
    let progress = std::sync::Arc::new(kit::progress::Progress::new(total, "batch lines"));
    let (tx, rx) = mpsc::channel(16);
    let owned = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || read(&owned, &csv_header, &tx));
    let shown = std::sync::Arc::clone(&progress);
    let upload = tokio_stream::wrappers::ReceiverStream::new(rx).inspect(move |m| {
        if let Some(Part::Lines(l)) = &m.part {
            shown.inc(l.lines.len() as u64);
        }
    });
    let mut client =
        pb::ledger_service_client::LedgerServiceClient::connect(url.to_owned()).await?;
    let mut request = tonic::Request::new(upload);
    token.attach(&mut request);
    let answer = client.apply_batch(request).await;
    reader.await??;
    progress.finish();
    Ok(answer?.into_inner())
}

/// The report's summary for [`kit::report`]: one sum per currency of
/// `summary`, in its order (`RUR`, `USD`, `EUR`, `BTC`, then the others).
fn head(report: &pb::ApplyBatchResponse) -> kit::report::Head<'_> {
    let sums = if report.summary.is_empty() {
        // A report stored before summaries existed.
        vec![("RUR", report.accepted_sum.as_str())]
    } else {
        report
            .summary
            .iter()
            .map(|s| (s.currency.as_str(), s.amount.as_str()))
            .collect()
    };
    kit::report::Head {
        code: report.code,
        message: &report.message,
        id: &report.request_id,
        sums,
        error_count: report.error_count,
    }
}

fn errors(report: &pb::ApplyBatchResponse) -> impl Iterator<Item = (u64, &str)> {
    report.errors.iter().map(|e| (e.line, e.comment.as_str()))
}

/// The report in the seed-004 CSV form ([`kit::report::csv`]).
pub fn report_csv(report: &pb::ApplyBatchResponse) -> String {
    kit::report::csv(&head(report), errors(report))
}

/// The report in the seed-004 JSON form ([`kit::report::json`]). The
/// ledger charges no fees: there is no `fee` or `nettoSummary`.
pub fn report_json(report: &pb::ApplyBatchResponse) -> String {
    kit::report::json(&head(report), errors(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_report_follows_seed_004() {
        let ok = pb::ApplyBatchResponse {
            request_id: "938059f7".into(),
            accepted_sum: "1.20".into(),
            ..Default::default()
        };
        assert_eq!(report_csv(&ok), "0;938059f7;1.20\nerrors;938059f7;0\n");
        let failed = pb::ApplyBatchResponse {
            request_id: "0839e09e".into(),
            code: 185,
            status: 1,
            message: "Ошибка импорта".into(),
            error_count: 1,
            errors: vec![pb::BatchLineError {
                line: 1,
                comment: "Неверно задано значение поля \"memberNo\"".into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            report_csv(&failed),
            "185;\"Ошибка импорта\"\nerrors;0839e09e;1\nerrorAtLine;1;\"Неверно задано значение поля \"\"memberNo\"\"\"\n"
        );
    }
}
