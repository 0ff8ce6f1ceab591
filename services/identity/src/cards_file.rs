//! `identity cards load FILE`: loads physical card numbers into the stock of
//! a running identity service from a text file.
//!
//! The file holds one entry per line: a card number, or a range
//! `FIRST-LAST` (also `FIRST..LAST`). Blank lines and lines starting with
//! `#` are skipped; spaces inside a number are ignored. Entries are sent
//! with `LoadCards` in requests of at most [`CHUNK_CARDS`] cards. Loading
//! the same file twice is harmless: known cards are counted, not changed.

use std::path::Path;

use anyhow::Context;
use loyalty_proto::identity::v1::{self as pb, card_service_client::CardServiceClient};

/// Cards per `LoadCards` request sent by the command.
pub const CHUNK_CARDS: u64 = 100_000;
/// Cards one file may name (ranges counted in full).
pub const MAX_FILE_CARDS: u64 = 50_000_000;

/// One line of a cards file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A single number.
    Card(String),
    /// `first..=last`.
    Range(String, String),
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// Parses a cards file's text; every bad line is reported, none is skipped.
pub fn parse(text: &str) -> Result<Vec<Entry>, Vec<LineError>> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let entry = match compact.split_once("..").or_else(|| compact.split_once('-')) {
            Some((a, b)) if digits(a) && digits(b) => Ok(Entry::Range(a.to_owned(), b.to_owned())),
            Some(_) => Err("a range is FIRST-LAST of digits"),
            None if digits(&compact) => Ok(Entry::Card(compact)),
            None => Err("not a card number"),
        };
        match entry {
            Ok(e) => entries.push(e),
            Err(reason) => errors.push(LineError {
                line: i + 1,
                reason: reason.to_owned(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// Splits entries into `LoadCards` requests of at most `chunk` cards
/// (ranges are split too).
pub fn requests(entries: &[Entry], chunk: u64) -> anyhow::Result<Vec<pb::LoadCardsRequest>> {
    let chunk = chunk.max(1);
    let mut total = 0u64;
    let mut out = Vec::new();
    let mut current = pb::LoadCardsRequest::default();
    let mut size = 0u64;
    let mut push = |current: &mut pb::LoadCardsRequest, size: &mut u64, n: u64| {
        if *size + n > chunk && *size > 0 {
            out.push(std::mem::take(current));
            *size = 0;
        }
        *size += n;
    };
    for e in entries {
        match e {
            Entry::Card(n) => {
                push(&mut current, &mut size, 1);
                current.card_numbers.push(n.clone());
            }
            Entry::Range(first, last) => {
                let width = first.len();
                let (a, b): (u64, u64) = (
                    first.parse().context("range start")?,
                    last.parse().context("range end")?,
                );
                if width != last.len() || a > b {
                    anyhow::bail!("range {first}-{last}: same length, first <= last");
                }
                total = total.saturating_add(b - a + 1);
                anyhow::ensure!(
                    total <= MAX_FILE_CARDS,
                    "the file names more than {MAX_FILE_CARDS} cards; split it"
                );
                let mut from = a;
                while from <= b {
                    let to = b.min(from + chunk - 1);
                    push(&mut current, &mut size, to - from + 1);
                    current.ranges.push(pb::CardRange {
                        first: format!("{from:0width$}"),
                        last: format!("{to:0width$}"),
                    });
                    from = to + 1;
                }
            }
        }
    }
    if size > 0 {
        out.push(current);
    }
    Ok(out)
}

/// Loads the file into the stock of the identity service at `url`;
/// returns the summed answer (rejected numbers, masked, included).
pub async fn load(
    url: &str,
    file: &Path,
    token: &kit::auth::ServiceToken,
) -> anyhow::Result<pb::LoadCardsResponse> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let entries = parse(&text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{} has bad lines:\n{}", file.display(), lines.join("\n"))
    })?;
    let mut client = CardServiceClient::connect(url.to_owned())
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let mut total = pb::LoadCardsResponse::default();
    let requests = requests(&entries, CHUNK_CARDS)?;
    let progress = kit::progress::Progress::new(requests.len() as u64, "load cards");
    for r in requests {
        let mut request = tonic::Request::new(r);
        token.attach(&mut request);
        let answer = client.load_cards(request).await?.into_inner();
        total.loaded += answer.loaded;
        total.already_known += answer.already_known;
        total.rejected.extend(answer.rejected);
        progress.inc(1);
    }
    progress.finish();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_ranges_comments_and_bad_lines() {
        let text = "# stock of 2026\n1000000000001\n\n1000 0000 0000 2\n2000000000000-2000000000009\n3000000000000..3000000000001\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![
                Entry::Card("1000000000001".into()),
                Entry::Card("1000000000002".into()),
                Entry::Range("2000000000000".into(), "2000000000009".into()),
                Entry::Range("3000000000000".into(), "3000000000001".into()),
            ]
        );
        let errors = parse("12a\n123\n1-\n").unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    #[test]
    fn requests_hold_at_most_a_chunk_of_cards() {
        let entries = vec![
            Entry::Card("1".into()),
            Entry::Range("0010".into(), "0034".into()),
            Entry::Card("2".into()),
        ];
        let rs = requests(&entries, 10).unwrap();
        let sizes: Vec<u64> = rs
            .iter()
            .map(|r| {
                r.card_numbers.len() as u64
                    + r.ranges
                        .iter()
                        .map(|g| {
                            g.last.parse::<u64>().unwrap() - g.first.parse::<u64>().unwrap() + 1
                        })
                        .sum::<u64>()
            })
            .collect();
        assert_eq!(sizes.iter().sum::<u64>(), 27);
        assert!(sizes.iter().all(|s| *s <= 10), "{sizes:?}");
        assert_eq!(rs[1].ranges[0].first, "0010");
        assert!(requests(&[Entry::Range("20".into(), "10".into())], 10).is_err());
    }
}
