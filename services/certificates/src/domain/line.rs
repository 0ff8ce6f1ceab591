//! One line of a certificate import file (seed `000`): `;`-separated, the
//! header row naming the columns present — any subset of the identifiers,
//! `Status`, `Amount`, `ActivationDate`, `ExpirationDate`,
//! `RedemptionDate` — in any order, names case-insensitive.
//!
//! A line needs at least one identifier and its `Status`; `Amount` and the
//! dates may be left out (empty, or missing at the end of the line) (an update leaves them as they are; a new
//! certificate needs its `Amount`). Amounts are 0…100 000 000 with at most
//! two decimals (`555`, `555.50`, or `555,50`); dates are `YYYY-MM-DD`.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::identifiers::{IdKind, IdentifierError, Identifiers};
use super::status::{Status, StatusError};

/// Largest certificate amount (seed: 0…100000000).
pub const MAX_AMOUNT: i64 = 100_000_000;

/// Most columns a header may name (every known column once).
pub const MAX_COLUMNS: usize = 11;

/// A column of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// An identifier.
    Id(IdKind),
    /// `Status`.
    Status,
    /// `Amount`.
    Amount,
    /// `ActivationDate`.
    ActivationDate,
    /// `ExpirationDate`.
    ExpirationDate,
    /// `RedemptionDate`.
    RedemptionDate,
}

impl Column {
    fn parse(name: &str) -> Option<Self> {
        if let Some(k) = IdKind::from_column(name) {
            return Some(Column::Id(k));
        }
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "status" => Column::Status,
            "amount" => Column::Amount,
            "activationdate" => Column::ActivationDate,
            "expirationdate" => Column::ExpirationDate,
            "redemptiondate" => Column::RedemptionDate,
            _ => return None,
        })
    }
}

/// Why the header row is refused (the whole file is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A column the import does not know.
    #[error(
        "unknown column {0}: identifiers (Number, BarCode, Strip1, Strip2, Strip3, QRcode), Status, Amount, ActivationDate, ExpirationDate, RedemptionDate"
    )]
    Unknown(String),
    /// A column named twice.
    #[error("column {0} is named twice")]
    Twice(String),
    /// No identifier column.
    #[error("no identifier column (Number, BarCode, Strip1, Strip2, Strip3 or QRcode)")]
    NoIdentifier,
    /// No `Status` column.
    #[error("no Status column")]
    NoStatus,
}

/// The columns of a file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header(Vec<Column>);

impl Header {
    /// The header row's fields.
    pub fn parse<'a>(fields: impl IntoIterator<Item = &'a str>) -> Result<Self, HeaderError> {
        let mut columns = Vec::new();
        for name in fields {
            let column = Column::parse(name)
                .ok_or_else(|| HeaderError::Unknown(kit::status::quote(name.trim())))?;
            if columns.contains(&column) {
                return Err(HeaderError::Twice(name.trim().to_owned()));
            }
            columns.push(column);
        }
        if !columns.iter().any(|c| matches!(c, Column::Id(_))) {
            return Err(HeaderError::NoIdentifier);
        }
        if !columns.contains(&Column::Status) {
            return Err(HeaderError::NoStatus);
        }
        Ok(Self(columns))
    }

    /// How many fields a line must have.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true (a header names at least an identifier and `Status`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLine {
    /// Its identifiers (at least one).
    pub ids: Identifiers,
    /// The state it gives the certificate.
    pub status: Status,
    /// The balance, when the line has one.
    pub amount: Option<Decimal>,
    /// `ActivationDate`.
    pub activation_date: Option<NaiveDate>,
    /// `ExpirationDate`.
    pub expiration_date: Option<NaiveDate>,
    /// `RedemptionDate`.
    pub redemption_date: Option<NaiveDate>,
}

/// Why a line is refused (the line's report entry says so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// More fields than the header has columns.
    #[error("the line has {found} fields; the header has {expected} columns")]
    FieldCount {
        /// Columns of the header.
        expected: usize,
        /// Fields of the line.
        found: usize,
    },
    /// No identifier value.
    #[error("the line names no identifier")]
    NoIdentifier,
    /// No `Status` value.
    #[error("the line has no Status")]
    NoStatus,
    /// A bad identifier.
    #[error(transparent)]
    Identifier(#[from] IdentifierError),
    /// A bad or unfinished status.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// An amount that is not a number of rubles and kopecks in range.
    #[error("Amount {0} is not an amount of 0…100000000 with at most two decimals")]
    Amount(String),
    /// A date not in `YYYY-MM-DD`.
    #[error("{column} {value} is not a date in YYYY-MM-DD")]
    Date {
        /// Which column.
        column: &'static str,
        /// A short quote of the value.
        value: String,
    },
}

/// An amount of a line: plain decimal, `.` or `,` as the separator.
fn amount(value: &str) -> Result<Decimal, LineError> {
    let v = value.trim().replace(',', ".");
    let bad = || LineError::Amount(kit::status::quote(value.trim()));
    let plain = !v.is_empty()
        && v.len() <= 20
        && v.chars().all(|c| c.is_ascii_digit() || c == '.')
        && v.matches('.').count() <= 1
        && !v.starts_with('.')
        && !v.ends_with('.');
    if !plain {
        return Err(bad());
    }
    let d: Decimal = v.parse().map_err(|_| bad())?;
    if d.normalize().scale() > 2 || d > Decimal::from(MAX_AMOUNT) {
        return Err(bad());
    }
    Ok(d)
}

fn date(column: &'static str, value: &str) -> Result<Option<NaiveDate>, LineError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let strict = v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if strict => Ok(Some(d)),
        _ => Err(LineError::Date {
            column,
            value: kit::status::quote(v),
        }),
    }
}

impl ImportLine {
    /// The line's `fields` under `header`.
    pub fn parse<'a>(
        header: &Header,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, LineError> {
        // At most one field past the header's columns is read: a long line
        // is refused without being held.
        let fields: Vec<&str> = fields.into_iter().take(header.len() + 1).collect();
        // Fewer fields than columns: the trailing ones are empty (the
        // seed's own update file ends a line before its RedemptionDate).
        if fields.len() > header.len() {
            return Err(LineError::FieldCount {
                expected: header.len(),
                found: fields.len(),
            });
        }
        let mut ids = Identifiers::new();
        let mut status = None;
        let mut line = ImportLine {
            ids: Identifiers::new(),
            status: Status::Prepared,
            amount: None,
            activation_date: None,
            expiration_date: None,
            redemption_date: None,
        };
        for (column, value) in header.0.iter().zip(fields.iter().copied()) {
            match column {
                Column::Id(kind) => ids.add(*kind, value)?,
                Column::Status if value.trim().is_empty() => {}
                Column::Status => status = Some(Status::parse(value)?),
                Column::Amount if value.trim().is_empty() => {}
                Column::Amount => line.amount = Some(amount(value)?),
                Column::ActivationDate => {
                    line.activation_date = date("ActivationDate", value)?;
                }
                Column::ExpirationDate => {
                    line.expiration_date = date("ExpirationDate", value)?;
                }
                Column::RedemptionDate => {
                    line.redemption_date = date("RedemptionDate", value)?;
                }
            }
        }
        if ids.is_empty() {
            return Err(LineError::NoIdentifier);
        }
        line.ids = ids;
        line.status = status.ok_or(LineError::NoStatus)?;
        Ok(line)
    }
}
