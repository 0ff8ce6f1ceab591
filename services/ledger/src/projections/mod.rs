//! The ledger's read models, fed from its event log by the kit's runner.

pub mod expiry;
pub mod history;

/// A row key: `tag`, then `parts` with a NUL between each two (an empty
/// last part ends the key with a NUL, as a prefix of longer keys).
fn row_key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut k = Vec::with_capacity(len + 1);
    k.push(tag);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(part);
    }
    k
}
