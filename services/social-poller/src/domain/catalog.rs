//! The promotions defined, in one stream (`promotions`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;

use super::promotion::Promotion;

/// The stream of the catalog.
pub const STREAM: &str = "promotions";
/// Most promotions.
pub const MAX_PROMOTIONS: usize = 100;

/// Defines or replaces a promotion.
#[derive(Debug, Clone)]
pub struct Configure {
    /// The promotion.
    pub promotion: Promotion,
    /// When.
    pub at: DateTime<Utc>,
}

/// A promotion was defined or replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Configured {
    /// The promotion.
    pub promotion: Promotion,
    /// When.
    pub at: DateTime<Utc>,
}

/// Refusals of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// Too many promotions.
    #[error("at most {MAX_PROMOTIONS} promotions")]
    Full,
}

/// Every promotion, by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The promotions.
    pub promotions: BTreeMap<String, Promotion>,
}

impl Aggregate for Catalog {
    type Command = Configure;
    type Event = Configured;
    type Error = CatalogError;

    fn decide(&self, c: &Configure) -> Result<Vec<Configured>, CatalogError> {
        match self.promotions.get(&c.promotion.id) {
            Some(same) if *same == c.promotion => return Ok(Vec::new()),
            None if self.promotions.len() >= MAX_PROMOTIONS => return Err(CatalogError::Full),
            _ => {}
        }
        Ok(vec![Configured {
            promotion: c.promotion.clone(),
            at: c.at,
        }])
    }

    fn apply(&mut self, e: &Configured) {
        self.promotions
            .insert(e.promotion.id.clone(), e.promotion.clone());
    }
}
