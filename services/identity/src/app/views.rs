//! Queries answered from the projections (the member directory and the
//! card stock). Each first waits, briefly, until the projection has applied
//! every event durable when the query arrived, so a caller reads its own
//! writes.

use std::time::Duration;

use kit::projection::ProjectionHandle;

use super::*;
use crate::projections::{counter, directory, stock};

/// Members by registration state (`CountMembers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCounts {
    /// Members who began registering and have not finished.
    pub registering: u64,
    /// Members who finished registering.
    pub registered: u64,
}

/// Cards of one kind by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardCounts {
    /// In the stock, bound to nobody.
    pub in_stock: u64,
    /// Bound to a member.
    pub bound: u64,
    /// Blocked.
    pub blocked: u64,
}

/// The card stock per kind (`GetCardStock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardStock {
    /// Physical cards.
    pub physical: CardCounts,
    /// Virtual cards.
    pub r#virtual: CardCounts,
}

/// How long a query waits for a projection to catch up.
const CATCH_UP: Duration = Duration::from_secs(2);

/// The projections the queries read.
#[derive(Clone)]
pub struct Views {
    /// [`directory::Directory`].
    pub directory: ProjectionHandle,
    /// [`stock::Stock`].
    pub stock: ProjectionHandle,
}

impl Identity {
    /// Attaches the projections.
    pub fn with_views(mut self, views: Views) -> Self {
        self.views = Some(views);
        self
    }

    /// A projection, caught up with the log as of now.
    async fn view(
        &self,
        pick: fn(&Views) -> &ProjectionHandle,
    ) -> Result<&ProjectionHandle, ApiError> {
        let views = self
            .views
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("projections are not running"))?;
        let handle = pick(views);
        let head = self.members.log().head();
        if !handle.wait_for(head, CATCH_UP).await {
            tracing::warn!(
                projection = handle.name(),
                head,
                "projection is behind the log"
            );
            return Err(ApiError::Busy);
        }
        Ok(handle)
    }

    /// The member whose confirmed phone or e-mail `value` is.
    pub async fn find_member(&self, channel: Channel, raw: &str) -> Result<String, ApiError> {
        let value = match channel {
            Channel::Email => Email::parse(raw)
                .map_err(|e| violation("email", e.description))?
                .as_str()
                .to_owned(),
            Channel::Sms => Phone::parse(raw)
                .map_err(|e| violation("phone", e.description))?
                .as_str()
                .to_owned(),
        };
        let view = self.view(|v| &v.directory).await?;
        let prefix = directory::contact_prefix(channel, &value);
        let mut holders = Vec::new();
        for row in view.tree().scan_prefix(&prefix).take(2) {
            let (key, _) = row.map_err(anyhow::Error::from)?;
            let id =
                String::from_utf8(key[prefix.len()..].to_vec()).map_err(anyhow::Error::from)?;
            holders.push(id);
        }
        match holders.len() {
            0 => Err(ApiError::NotFound("member")),
            1 => Ok(holders.remove(0)),
            _ => Err(ApiError::Ambiguous(
                "several members confirmed this contact",
            )),
        }
    }

    /// Members registering and registered.
    pub async fn count_members(&self) -> Result<MemberCounts, ApiError> {
        let tree = self.view(|v| &v.directory).await?.tree();
        let n = |key| counter(tree, key).map(|n| n.max(0) as u64);
        Ok(MemberCounts {
            registering: n(directory::REGISTERING)?,
            registered: n(directory::REGISTERED)?,
        })
    }

    /// Cards per kind and state.
    pub async fn card_stock(&self) -> Result<CardStock, ApiError> {
        let tree = self.view(|v| &v.stock).await?.tree();
        let counts = |kind| -> anyhow::Result<CardCounts> {
            let n = |state| counter(tree, &stock::count_key(kind, state)).map(|n| n.max(0) as u64);
            Ok(CardCounts {
                in_stock: n(CardState::InStock)?,
                bound: n(CardState::Bound)?,
                blocked: n(CardState::Blocked)?,
            })
        };
        Ok(CardStock {
            physical: counts(CardKind::Physical)?,
            r#virtual: counts(CardKind::Virtual)?,
        })
    }
}
