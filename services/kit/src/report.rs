//! The per-line report of a batch import in the shapes of seed 004, CSV
//! and JSON: shared by every import (the ledger's batch balance changes,
//! certificate files).
//!
//! CSV: `0;<id>;<sum>;<sum>...` (one sum per currency, in order) or
//! `<code>;"<message>"` when the import was refused as a whole, then
//! `errors;<id>;<count>`, then one `errorAtLine;<line>;"<comment>"` per
//! refused line. JSON: `{"code", "message", "data": {"id", "summary",
//! "errors": [{"line", "comment"}]}}` — `message` empty and `summary`
//! (currency → sum) present for code 0, as in the seed's examples.

use serde::Serialize;
use serde::ser::SerializeMap;

/// The seed-004 code of an import with accepted lines (errors or not).
pub const CODE_OK: i32 = 0;
/// The code when every line was refused.
pub const CODE_ALL_REFUSED: i32 = 185;
/// The code when the one line there was was refused.
pub const CODE_ONE_REFUSED: i32 = 188;

/// The code of an import of `lines` lines, `refused` of them refused: 0
/// when any was accepted (or there were none), 188 for a single refused
/// line, 185 when every line was refused.
pub fn code(lines: u64, refused: u64) -> i32 {
    match (lines, refused) {
        (n, r) if r < n || n == 0 => CODE_OK,
        (1, 1) => CODE_ONE_REFUSED,
        _ => CODE_ALL_REFUSED,
    }
}

/// The summary of a report (everything but the error lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    /// Seed-004 code ([`code`]).
    pub code: i32,
    /// The message of a refused import (left out for code 0).
    pub message: &'a str,
    /// The import's id.
    pub id: &'a str,
    /// Currency → sum accepted, in the order to print.
    pub sums: Vec<(&'a str, &'a str)>,
    /// How many lines were refused.
    pub error_count: u64,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The first two CSV lines.
pub fn csv_head(h: &Head<'_>) -> String {
    let first = if h.code == CODE_OK {
        let sums: Vec<&str> = h.sums.iter().map(|(_, a)| *a).collect();
        format!("0;{};{}", h.id, sums.join(";"))
    } else {
        format!("{};{}", h.code, quote(h.message))
    };
    format!("{first}\nerrors;{};{}\n", h.id, h.error_count)
}

/// The CSV line of one refused line.
pub fn csv_error(line: u64, comment: &str) -> String {
    format!("errorAtLine;{line};{}\n", quote(comment))
}

/// The whole CSV report.
pub fn csv<'e>(h: &Head<'_>, errors: impl IntoIterator<Item = (u64, &'e str)>) -> String {
    let mut out = csv_head(h);
    for (line, comment) in errors {
        out.push_str(&csv_error(line, comment));
    }
    out
}

struct Summary<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Summary<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (currency, amount) in self.0 {
            map.serialize_entry(currency, amount)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct LineError<'a> {
    line: u64,
    comment: &'a str,
}

#[derive(Serialize)]
struct Data<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary<'a>>,
    errors: Vec<LineError<'a>>,
}

#[derive(Serialize)]
struct Report<'a> {
    code: i32,
    message: &'a str,
    data: Data<'a>,
}

/// The JSON report (pretty-printed).
pub fn json<'e>(h: &Head<'_>, errors: impl IntoIterator<Item = (u64, &'e str)>) -> String {
    let ok = h.code == CODE_OK;
    let report = Report {
        code: h.code,
        message: if ok { "" } else { h.message },
        data: Data {
            id: h.id,
            summary: ok.then_some(Summary(&h.sums)),
            errors: errors
                .into_iter()
                .map(|(line, comment)| LineError { line, comment })
                .collect(),
        },
    };
    // Strings and numbers only: serialising cannot fail.
    serde_json::to_string_pretty(&report).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_the_seeds_csv() {
        assert_eq!(code(4, 1), CODE_OK);
        assert_eq!(code(0, 0), CODE_OK);
        assert_eq!(code(1, 1), CODE_ONE_REFUSED);
        assert_eq!(code(3, 3), CODE_ALL_REFUSED);
        let ok = Head {
            code: 0,
            message: "",
            id: "938059f7-3680-4836-8c5c-53d5912556b9",
            sums: vec![
                ("RUR", "1.20"),
                ("USD", "0.00"),
                ("EUR", "0.00"),
                ("BTC", "0.00"),
            ],
            error_count: 0,
        };
        assert_eq!(
            csv(&ok, []),
            "0;938059f7-3680-4836-8c5c-53d5912556b9;1.20;0.00;0.00;0.00\nerrors;938059f7-3680-4836-8c5c-53d5912556b9;0\n"
        );
        let refused = Head {
            code: 185,
            message: "Ошибка \"импорта\"",
            id: "0839e09e",
            sums: vec![],
            error_count: 1,
        };
        assert_eq!(
            csv(&refused, [(1, "bad")]),
            "185;\"Ошибка \"\"импорта\"\"\"\nerrors;0839e09e;1\nerrorAtLine;1;\"bad\"\n"
        );
        let j: serde_json::Value = serde_json::from_str(&json(&refused, [(1, "bad")])).unwrap();
        assert_eq!(j["data"]["errors"][0]["comment"], "bad");
        assert!(j["data"].get("summary").is_none());
    }
}
