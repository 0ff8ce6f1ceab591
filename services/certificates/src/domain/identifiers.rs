//! The identifiers of a certificate (seed `000`): the printed number, the
//! barcode, the three magnetic-strip tracks and the QR code. Each is unique
//! among certificates, and any one of them finds the certificate.

use std::collections::BTreeMap;
use std::fmt;

/// Longest identifier value, in bytes.
pub const MAX_IDENTIFIER: usize = 128;

/// Which identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdKind {
    /// The unique number printed on the certificate (`Number`).
    Number,
    /// The barcode printed on it (`BarCode`).
    BarCode,
    /// Magnetic strip, track 1 (`Strip1`).
    Strip1,
    /// Magnetic strip, track 2 (`Strip2`).
    Strip2,
    /// Magnetic strip, track 3 (`Strip3`).
    Strip3,
    /// The QR code printed on it (`QRcode`).
    QrCode,
}

impl IdKind {
    /// Every kind, in the order a certificate is named by (the first one
    /// present names its stream).
    pub const ALL: [IdKind; 6] = [
        IdKind::Number,
        IdKind::BarCode,
        IdKind::Strip1,
        IdKind::Strip2,
        IdKind::Strip3,
        IdKind::QrCode,
    ];

    /// The kind a CSV column header names (case-insensitive: the seed
    /// writes both `Barcode` and `BarCode`).
    pub fn from_column(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase();
        IdKind::ALL
            .into_iter()
            .find(|k| k.column().to_ascii_lowercase() == n)
    }

    /// The column name, as the seed writes it.
    pub fn column(self) -> &'static str {
        match self {
            IdKind::Number => "Number",
            IdKind::BarCode => "BarCode",
            IdKind::Strip1 => "Strip1",
            IdKind::Strip2 => "Strip2",
            IdKind::Strip3 => "Strip3",
            IdKind::QrCode => "QRcode",
        }
    }

    /// A short tag for keys (`number`, `barcode`, ...).
    pub fn tag(self) -> &'static str {
        match self {
            IdKind::Number => "number",
            IdKind::BarCode => "barcode",
            IdKind::Strip1 => "strip1",
            IdKind::Strip2 => "strip2",
            IdKind::Strip3 => "strip3",
            IdKind::QrCode => "qrcode",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.column())
    }
}

/// Why an identifier value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Longer than [`MAX_IDENTIFIER`].
    #[error("{kind} is {len} bytes long; at most {MAX_IDENTIFIER}")]
    TooLong {
        /// Which.
        kind: IdKind,
        /// Its length.
        len: usize,
    },
    /// Has a control character or a space.
    #[error("{kind} {value} has a space or a control character")]
    NotPrintable {
        /// Which.
        kind: IdKind,
        /// A short quote of it.
        value: String,
    },
}

/// The identifiers a certificate (or an import line) has; at least one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers(BTreeMap<IdKind, String>);

impl Identifiers {
    /// No identifiers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` as the `kind` identifier (an empty value is no
    /// identifier: the column may be empty on a line).
    pub fn add(&mut self, kind: IdKind, value: &str) -> Result<(), IdentifierError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(());
        }
        if value.len() > MAX_IDENTIFIER {
            return Err(IdentifierError::TooLong {
                kind,
                len: value.len(),
            });
        }
        if !value.chars().all(|c| !c.is_control() && !c.is_whitespace()) {
            return Err(IdentifierError::NotPrintable {
                kind,
                value: kit::status::quote(value),
            });
        }
        self.0.insert(kind, value.to_owned());
        Ok(())
    }

    /// Sets `kind` to `value`, checked before (by [`Identifiers::add`] on
    /// another set, or decoded from the log).
    pub fn insert(&mut self, kind: IdKind, value: &str) {
        self.0.insert(kind, value.to_owned());
    }

    /// The `kind` identifier, if any.
    pub fn get(&self, kind: IdKind) -> Option<&str> {
        self.0.get(&kind).map(String::as_str)
    }

    /// Every identifier, in [`IdKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (IdKind, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first identifier in [`IdKind::ALL`] order: what names a new
    /// certificate (`number:7770002105606220001`).
    pub fn primary(&self) -> Option<(IdKind, &str)> {
        self.iter().next()
    }

    /// The identifiers of `other` this set lacks or has with another value.
    pub fn differences(&self, other: &Identifiers) -> Vec<IdKind> {
        other
            .iter()
            .filter(|(k, v)| self.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect()
    }
}

/// The id of the certificate a new line creates: its first identifier,
/// tagged by kind (`number/7770002105606220001`), so re-importing the same
/// line finds the same certificate.
pub fn certificate_id(ids: &Identifiers) -> Option<String> {
    ids.primary().map(|(k, v)| format!("{}/{v}", k.tag()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_values_and_the_primary_identifier() {
        assert_eq!(IdKind::from_column("Barcode"), Some(IdKind::BarCode));
        assert_eq!(IdKind::from_column("QRCode"), Some(IdKind::QrCode));
        assert_eq!(IdKind::from_column("Status"), None);
        let mut ids = Identifiers::new();
        ids.add(IdKind::Strip2, "7770002105606227848=26067229740000002")
            .unwrap();
        ids.add(IdKind::BarCode, "").unwrap();
        assert_eq!(
            certificate_id(&ids).as_deref(),
            Some("strip2/7770002105606227848=26067229740000002")
        );
        ids.add(IdKind::Number, "7770002105606220002").unwrap();
        assert_eq!(
            certificate_id(&ids).as_deref(),
            Some("number/7770002105606220002")
        );
        assert!(matches!(
            ids.add(IdKind::QrCode, "a b"),
            Err(IdentifierError::NotPrintable { .. })
        ));
        assert!(matches!(
            ids.add(IdKind::QrCode, &"x".repeat(129)),
            Err(IdentifierError::TooLong { len: 129, .. })
        ));
    }
}
