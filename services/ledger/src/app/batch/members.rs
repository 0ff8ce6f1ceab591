//! A batch's `memberNo`s: which can be one, and resolving a chunk's at once.

use std::collections::HashMap;

use loyalty_proto::ledger::v1 as pb;

use crate::domain::ids::StreamId;
use crate::error::ApiError;
use crate::members::MemberDirectory;

/// A chunk's `memberNo`s and their member ids (`None`: unknown).
pub(super) type Members = HashMap<String, Option<String>>;

/// Whether `id` can be a `memberNo` or a member id: a [`StreamId`] (ids
/// are parts of stream names and idempotency keys; the length bound keeps a
/// directory call of 10 000 numbers small).
pub(super) fn well_formed(id: &str) -> bool {
    StreamId::parse(id).is_ok()
}

/// Resolves the well-formed `memberNo`s of a chunk's lines, each once,
/// in one [`MemberDirectory::resolve_many`] call (which may split it).
pub(super) async fn resolve(
    directory: &dyn MemberDirectory,
    lines: &[(u64, pb::BatchLine)],
) -> Result<Members, ApiError> {
    let mut unique: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, line) in lines {
        let no = line.member_no.trim();
        if well_formed(no) && seen.insert(no) {
            unique.push(no.to_owned());
        }
    }
    let answers = directory.resolve_many(&unique).await.map_err(|e| {
        ApiError::Unavailable(format!(
            "member directory could not resolve memberNos: {e:#}"
        ))
    })?;
    if answers.len() != unique.len() {
        return Err(ApiError::Unavailable(format!(
            "member directory gave {} answers for {} memberNos",
            answers.len(),
            unique.len()
        )));
    }
    Ok(unique.into_iter().zip(answers).collect())
}
