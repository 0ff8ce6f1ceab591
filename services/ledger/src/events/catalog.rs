//! The catalog's event and definition on the wire: [`CatalogChanged`] ⇄
//! `loyalty.ledger.v1.CatalogChanged`, [`Catalog`] ⇄ `CatalogDefinition`.

use kit::aggregate::{DecodeError, DomainEvent};
use loyalty_proto::ledger::v1 as pb;
use prost::Message;

use crate::domain::catalog::{
    Catalog, CatalogChanged, CatalogDraft, CurrencyDraft, LifetimeDraft, LifetimeRule, Violation,
};

/// Full name of the event message.
pub const CATALOG_CHANGED: &str = "loyalty.ledger.v1.CatalogChanged";

/// A catalog as its message.
pub fn definition(c: &Catalog) -> pb::CatalogDefinition {
    let d = c.to_draft();
    pb::CatalogDefinition {
        currencies: d
            .currencies
            .into_iter()
            .map(|c| pb::CurrencyDefinition {
                id: c.id,
                precision: c.precision,
                max_amount: c.max_amount.unwrap_or_default(),
            })
            .collect(),
        default_currency: d.default_currency,
        lifetimes: d
            .lifetimes
            .into_iter()
            .map(|l| pb::LifetimeDefinition {
                id: l.id,
                rule: match l.rule {
                    LifetimeRule::Never => pb::LifetimeRule::Never,
                    LifetimeRule::Days => pb::LifetimeRule::Days,
                    LifetimeRule::EndOfMonthPlusDays => pb::LifetimeRule::EndOfMonthPlusDays,
                } as i32,
                days: l.days,
            })
            .collect(),
        default_lifetime: d.default_lifetime,
    }
}

impl TryFrom<pb::CatalogDefinition> for CatalogDraft {
    type Error = Vec<Violation>;

    /// The message as a draft; an unset or unknown lifetime rule is a
    /// violation (`lifetimes[i].rule`).
    fn try_from(m: pb::CatalogDefinition) -> Result<Self, Vec<Violation>> {
        let mut bad = Vec::new();
        let lifetimes = m
            .lifetimes
            .into_iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let rule = match pb::LifetimeRule::try_from(l.rule) {
                    Ok(pb::LifetimeRule::Never) => LifetimeRule::Never,
                    Ok(pb::LifetimeRule::Days) => LifetimeRule::Days,
                    Ok(pb::LifetimeRule::EndOfMonthPlusDays) => LifetimeRule::EndOfMonthPlusDays,
                    Ok(pb::LifetimeRule::Unspecified) | Err(_) => {
                        bad.push(Violation {
                            field: format!("lifetimes[{i}].rule"),
                            message: format!(
                                "must be NEVER, DAYS or END_OF_MONTH_PLUS_DAYS, not {}",
                                l.rule
                            ),
                        });
                        return None;
                    }
                };
                Some(LifetimeDraft {
                    id: l.id,
                    rule,
                    days: l.days,
                })
            })
            .collect();
        if !bad.is_empty() {
            return Err(bad);
        }
        Ok(CatalogDraft {
            currencies: m
                .currencies
                .into_iter()
                .map(|c| CurrencyDraft {
                    id: c.id,
                    precision: c.precision,
                    max_amount: Some(c.max_amount).filter(|s| !s.is_empty()),
                })
                .collect(),
            default_currency: m.default_currency,
            lifetimes,
            default_lifetime: m.default_lifetime,
        })
    }
}

/// A stored or received definition as a checked catalog.
pub fn catalog(m: pb::CatalogDefinition) -> Result<Catalog, Vec<Violation>> {
    Catalog::try_from(&CatalogDraft::try_from(m)?)
}

impl DomainEvent for CatalogChanged {
    fn event_type(&self) -> &'static str {
        CATALOG_CHANGED
    }

    fn encode(&self) -> Vec<u8> {
        pb::CatalogChanged {
            version: self.version,
            catalog: Some(definition(&self.catalog)),
            operator_id: self.operator_id.clone(),
            source: self.source.clone(),
            changed_at: Some(self.changed_at.into()),
            request_id: self.request_id.clone(),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let err = |reason: String| DecodeError {
            event_type: event_type.to_owned(),
            reason,
        };
        if event_type != CATALOG_CHANGED {
            return Err(err("not a catalog event".into()));
        }
        let m = pb::CatalogChanged::decode(payload).map_err(|e| err(e.to_string()))?;
        let definition = m.catalog.ok_or_else(|| err("catalog is missing".into()))?;
        let catalog = catalog(definition).map_err(|v| {
            err(v
                .first()
                .map_or_else(String::new, |v| format!("{}: {}", v.field, v.message)))
        })?;
        let changed_at = m
            .changed_at
            .ok_or_else(|| err("changed_at is missing".into()))?
            .try_into()
            .map_err(|e| err(format!("changed_at: {e}")))?;
        Ok(CatalogChanged {
            version: m.version,
            catalog,
            operator_id: m.operator_id,
            source: m.source,
            request_id: m.request_id,
            changed_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_event_round_trips() {
        let mut draft = Catalog::builtin().to_draft();
        draft.currencies[0].precision = 3;
        draft.currencies[0].max_amount = Some("5000.5".into());
        let e = CatalogChanged {
            version: 3,
            catalog: Catalog::try_from(&draft).unwrap(),
            operator_id: "op".into(),
            source: "api".into(),
            request_id: "r".into(),
            changed_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
                .unwrap(),
        };
        assert_eq!(
            CatalogChanged::decode(CATALOG_CHANGED, &e.encode()).unwrap(),
            e
        );
    }

    #[test]
    fn an_unknown_rule_is_a_violation() {
        let mut m = definition(&Catalog::builtin());
        m.lifetimes[1].rule = 42;
        let v = CatalogDraft::try_from(m).unwrap_err();
        assert_eq!(v[0].field, "lifetimes[1].rule");
    }
}
