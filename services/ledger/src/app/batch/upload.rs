//! The framing of a batch upload: its parts after the header, and the
//! trailer's digest that marks an upload complete.

use loyalty_proto::ledger::v1 as pb;
use prost::Message;
use sha2::Digest;

use crate::error::ApiError;

/// One part of a batch upload after its header.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchPart {
    /// Lines, in file order.
    Lines(Vec<pb::BatchLine>),
    /// The end of the upload: line count and digest.
    End(pb::BatchTrailer),
}

/// The digest a batch upload ends with: SHA-256 over the header's and then
/// every line's length-delimited protobuf encoding, in order; rendered as
/// lowercase hex in [`pb::BatchTrailer::digest`].
pub struct BatchDigest {
    hasher: sha2::Sha256,
    lines: u64,
}

impl BatchDigest {
    /// A digest starting with `header`.
    pub fn new(header: &pb::BatchHeader) -> Self {
        let mut hasher = sha2::Sha256::new();
        hasher.update(header.encode_length_delimited_to_vec());
        Self { hasher, lines: 0 }
    }

    /// Adds the next line.
    pub fn line(&mut self, line: &pb::BatchLine) {
        self.hasher.update(line.encode_length_delimited_to_vec());
        self.lines += 1;
    }

    /// Lines added so far.
    pub fn line_count(&self) -> u64 {
        self.lines
    }

    /// The digest so far, as raw bytes.
    pub fn hash(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    /// The trailer that ends an upload of what was added.
    pub fn trailer(&self) -> pb::BatchTrailer {
        pb::BatchTrailer {
            line_count: self.lines,
            digest: hex::encode(self.hash()),
        }
    }

    /// Checks that an upload ended with a trailer matching what was received.
    pub(super) fn check(&self, trailer: Option<&pb::BatchTrailer>) -> Result<(), ApiError> {
        let violation =
            |d: String| ApiError::Invalid(vec![tonic_types::FieldViolation::new("trailer", d)]);
        let Some(t) = trailer else {
            return Err(violation(
                "the upload ended without its trailer (aborted): nothing was recorded under \
                 the requestId; send the whole batch again"
                    .into(),
            ));
        };
        if t.line_count != self.lines {
            return Err(violation(format!(
                "the trailer counts {} lines, the ledger received {}; nothing was recorded",
                t.line_count, self.lines
            )));
        }
        if !t.digest.eq_ignore_ascii_case(&hex::encode(self.hash())) {
            return Err(violation(
                "the trailer's digest differs from what the ledger received; nothing was recorded"
                    .into(),
            ));
        }
        Ok(())
    }
}

pub(super) fn after_trailer() -> ApiError {
    ApiError::Invalid(vec![tonic_types::FieldViolation::new(
        "trailer",
        "the trailer must be the upload's last message",
    )])
}
