//! A claim on one identifier (stream `ident/<kind>/<value>`): the lock that
//! keeps an identifier unique among certificates, and the index that finds
//! a certificate by any of its identifiers.
//!
//! A new certificate's identifiers are claimed before it is created, each
//! in its own append; a crash in between leaves claims naming a
//! certificate that does not exist yet, and the same line imported again
//! finds them and creates that certificate (its id is derived from the
//! line, so it is the same one).

use kit::aggregate::Aggregate;

use super::identifiers::IdKind;

/// The stream of the claim on `value` as a `kind` identifier.
pub fn stream(kind: IdKind, value: &str) -> String {
    format!("ident/{}/{value}", kind.tag())
}

/// Take the identifier for a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The certificate.
    pub certificate_id: String,
}

/// The identifier was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// By this certificate.
    pub certificate_id: String,
}

/// The identifier belongs to another certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the identifier belongs to certificate {owner}")]
pub struct Taken {
    /// Its certificate.
    pub owner: String,
}

/// Who holds an identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentifierClaim {
    /// The certificate, once claimed.
    pub owner: Option<String>,
}

impl Aggregate for IdentifierClaim {
    type Command = Claim;
    type Event = Claimed;
    type Error = Taken;

    fn decide(&self, c: &Claim) -> Result<Vec<Claimed>, Taken> {
        match &self.owner {
            Some(o) if *o == c.certificate_id => Ok(Vec::new()),
            Some(o) => Err(Taken { owner: o.clone() }),
            None => Ok(vec![Claimed {
                certificate_id: c.certificate_id.clone(),
            }]),
        }
    }

    fn apply(&mut self, e: &Claimed) {
        self.owner = Some(e.certificate_id.clone());
    }
}

#[cfg(test)]
mod tests {
    use kit::aggregate::given_when;

    use super::*;

    #[test]
    fn an_identifier_is_one_certificates() {
        let claim = |id: &str| Claim {
            certificate_id: id.into(),
        };
        let taken = given_when::<IdentifierClaim>(&[], &claim("a")).unwrap_or_default();
        assert_eq!(taken.len(), 1);
        assert_eq!(
            given_when::<IdentifierClaim>(&taken, &claim("a")),
            Ok(Vec::new())
        );
        assert_eq!(
            given_when::<IdentifierClaim>(&taken, &claim("b")),
            Err(Taken { owner: "a".into() })
        );
    }
}
