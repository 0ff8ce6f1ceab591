//! The seed-004 report of a batch, and the seed's date format.

use chrono::{DateTime, NaiveDateTime, Utc};
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;

use super::{Header, LineOutcome};
use crate::domain::account::Command;
use crate::domain::catalog::Catalog;
use crate::domain::money;

/// The seed's `operationDate` format (no zone: UTC).
const DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A line's `operationDate`: the seed's `YYYY-MM-DD HH:MM:SS`, which has no
/// zone and is read as UTC, or an RFC 3339 time with its zone (`Z` or
/// `+03:00`; a space may stand for the `T`), converted to UTC.
pub fn parse_operation_date(input: &str) -> Option<DateTime<Utc>> {
    let s = input.trim();
    if s.len() > 40 {
        return None;
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, DATE_FORMAT) {
        return Some(t.and_utc());
    }
    let with_t = match s.get(10..11) {
        Some(" ") => format!("{}T{}", &s[..10], &s[11..]),
        _ => s.to_owned(),
    };
    DateTime::parse_from_rfc3339(&with_t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn command_amount(command: &Command) -> Decimal {
    match command {
        Command::Accrue { amount, .. } | Command::Withdraw { amount, .. } => *amount,
        _ => Decimal::ZERO,
    }
}

/// Seed 004's message for code 185 (every line rejected), word for word.
pub const MESSAGE_185: &str = "Ошибка импорта массового платежа. Сумма платежа равна нулю. Подробности в деталях платежа (см. также get_batch_info).";
/// Seed 004's message for code 188 (a single-line batch rejected) starts
/// so; the line's reason follows.
pub const MESSAGE_188_PREFIX: &str = "Ошибка импорта массового платежа.";

/// Builds the seed-004 report.
pub(super) fn report(
    h: &Header,
    catalog: &Catalog,
    lines: u64,
    mut outcomes: Vec<LineOutcome>,
) -> pb::ApplyBatchResponse {
    outcomes.sort_by_key(|(n, _)| *n);
    let mut sum = Decimal::ZERO;
    let mut accepted = 0u64;
    let mut errors = Vec::new();
    for (line, outcome) in outcomes {
        match outcome {
            Ok(amount) => {
                accepted += 1;
                // Each line is at most the currency's bound: a sum beyond a
                // decimal would need ~10^16 lines; saturate rather than panic.
                sum = sum.saturating_add(amount);
            }
            Err(comment) => errors.push(pb::BatchLineError { line, comment }),
        }
    }
    let code = match (accepted, lines) {
        (0, 1) => 188,
        (0, _) => 185,
        _ => 0,
    };
    let message = match code {
        0 if errors.is_empty() => "Операция выполнена успешно".to_owned(),
        0 => format!(
            "Операция выполнена частично: принято строк {accepted}, отклонено {}",
            errors.len()
        ),
        188 => format!(
            "{MESSAGE_188_PREFIX} {}",
            errors.first().map_or("", |e| e.comment.as_str())
        ),
        _ => MESSAGE_185.to_owned(),
    };
    let summary = catalog
        .report_order()
        .into_iter()
        .map(|c| pb::CurrencySum {
            currency: c.id.clone(),
            amount: money::render(
                if c.id == h.currency.id {
                    sum
                } else {
                    Decimal::ZERO
                },
                c.precision,
            ),
        })
        .collect();
    pb::ApplyBatchResponse {
        request_id: h.request_id.clone(),
        r#type: h.kind as i32,
        status: i32::from(code != 0),
        message,
        code,
        accepted_count: accepted,
        accepted_sum: money::render(sum, h.currency.precision),
        error_count: errors.len() as u64,
        errors,
        currency: h.currency.id.clone(),
        summary,
    }
}
