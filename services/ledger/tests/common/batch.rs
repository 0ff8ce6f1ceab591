//! Batch uploads and what they wrote, for the tests that drive the batch
//! applier in process.

use futures::Stream;
use kit::log::EventLog;
use ledger::app::batch::{BatchDigest, BatchPart};
use ledger::error::ApiError;
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;

/// The complete upload of `lines` under `header`: one message of lines,
/// then the trailer.
pub fn upload(
    header: &pb::BatchHeader,
    lines: Vec<pb::BatchLine>,
) -> impl Stream<Item = Result<BatchPart, ApiError>> + Unpin + use<> {
    let mut digest = BatchDigest::new(header);
    lines.iter().for_each(|l| digest.line(l));
    futures::stream::iter(vec![
        Ok(BatchPart::Lines(lines)),
        Ok(BatchPart::End(digest.trailer())),
    ])
}

/// (stream, amount) of every `PointsAccrued` in the log, in order.
pub fn accruals(log: &EventLog) -> Vec<(String, Decimal)> {
    log.iter_from(1)
        .map(Result::unwrap)
        .filter(|e| e.event_type == "loyalty.ledger.v1.PointsAccrued")
        .map(|e| {
            let m: pb::PointsAccrued = prost::Message::decode(e.payload.as_slice()).unwrap();
            (e.stream, m.amount.parse::<Decimal>().unwrap())
        })
        .collect()
}
