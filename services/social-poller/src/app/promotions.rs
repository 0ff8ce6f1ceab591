//! Promotions (defined in one catalog stream) and members' counters.

use std::sync::Arc;

use kit::aggregate::Repository;
use kit::clock::Clock;
use kit::log::{EventLog, Metadata};

use crate::domain::catalog::{self, Catalog, Configure};
use crate::domain::member::{Counter, Member};
use crate::domain::promotion::Promotion;
use crate::error::ApiError;

/// The stream of a member's promotions state.
pub fn member_stream(member_id: &str) -> String {
    format!("member/{member_id}")
}

/// A counter with its (promotion, period).
pub type Counted = ((String, String), Counter);

/// Promotions and counters.
pub struct Promotions {
    catalog: Repository<Catalog>,
    members: Repository<Member>,
    clock: Clock,
}

impl Promotions {
    /// Over `log`.
    pub fn new(log: Arc<EventLog>, clock: Clock) -> Self {
        Self {
            catalog: Repository::new(Arc::clone(&log)),
            members: Repository::new(log),
            clock,
        }
    }

    /// Defines or replaces a promotion.
    pub async fn configure(&self, promotion: Promotion) -> Result<(), ApiError> {
        let command = Configure {
            promotion,
            at: (self.clock)(),
        };
        self.catalog
            .execute(
                catalog::STREAM,
                &command,
                None,
                Metadata::default(),
                |_, _| Vec::new(),
            )
            .await?;
        Ok(())
    }

    /// Every promotion, by id.
    pub fn list(&self) -> Result<Vec<Promotion>, ApiError> {
        Ok(self
            .catalog
            .load(catalog::STREAM)?
            .0
            .promotions
            .into_values()
            .collect())
    }

    /// A member's counters by (promotion, period).
    pub fn counters(&self, member_id: &str) -> Result<Vec<Counted>, ApiError> {
        Ok(self
            .members
            .load(&member_stream(member_id))?
            .0
            .counters
            .into_iter()
            .collect())
    }
}
