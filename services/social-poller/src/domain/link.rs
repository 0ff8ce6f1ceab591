//! A network account linked to a member (stream `link/<network>/<user>`):
//! the seed's "Привязка профиля соц. сети", processed at once — one
//! `ACCOUNT_LINK` activity per account, whatever is redelivered, so a
//! promotion on it rewards an account once.

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;

use super::activity::{Activity, ActivityKind, GroupKey, Network};

/// The account was linked.
#[derive(Debug, Clone)]
pub struct Record {
    /// The network.
    pub network: Network,
    /// The user's id there.
    pub user: String,
    /// When identity linked it.
    pub at: DateTime<Utc>,
}

/// The link's activity (stored as `ActivityDetected`).
#[derive(Debug, Clone, PartialEq)]
pub struct Linked(pub Activity);

/// Never refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
pub struct Never;

/// Whether the account's link was recorded.
#[derive(Debug, Clone, Default)]
pub struct Link {
    /// Recorded already.
    pub recorded: bool,
}

/// The stream of an account's link.
pub fn stream(network: Network, user: &str) -> String {
    format!("link/{}/{user}", network.name())
}

/// The account's `ACCOUNT_LINK` activity.
pub fn activity(c: &Record) -> Activity {
    Activity {
        id: super::activity::link_activity_id(c.network, &c.user),
        group: GroupKey::no_group(c.network),
        kind: ActivityKind::AccountLink,
        user: c.user.clone(),
        post_id: String::new(),
        object_id: String::new(),
        detected_at: c.at,
        reverses: None,
        baseline: false,
    }
}

impl Aggregate for Link {
    type Command = Record;
    type Event = Linked;
    type Error = Never;

    fn decide(&self, c: &Record) -> Result<Vec<Linked>, Never> {
        if self.recorded {
            return Ok(Vec::new());
        }
        Ok(vec![Linked(activity(c))])
    }

    fn apply(&mut self, _: &Linked) {
        self.recorded = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kit::aggregate::given_when;

    #[test]
    fn an_account_link_is_activity_once() {
        let record = Record {
            network: Network::Vk,
            user: "77".into(),
            at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 2).unwrap(),
        };
        let first = given_when::<Link>(&[], &record).unwrap();
        assert!(
            matches!(&first[..], [Linked(a)] if a.id == "vk:l:77" && a.kind == ActivityKind::AccountLink && a.group.group_id.is_empty())
        );
        assert_eq!(given_when::<Link>(&first, &record), Ok(Vec::new()));
    }
}
