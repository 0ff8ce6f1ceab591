//! Networks, kinds of activity, references and the activity itself.

use chrono::{DateTime, Utc};

/// Longest group id, promotion id or credentials reference.
pub const MAX_REF: usize = 32;
/// Longest external user id, post id or object id a network may report.
pub const MAX_EXTERNAL_ID: usize = 64;

/// Longest activity id: `<network>:l:<user>` with the longest user, or
/// `<network>:g:<group_id>:<sequence>` with the longest group and
/// sequence; with a promotion id and `:` in front, a reward id stays within
/// the ledger's 128 bytes (see [`reward_id_fits`]).
pub const MAX_ACTIVITY_ID: usize = {
    let link = 2 + 3 + MAX_EXTERNAL_ID;
    let group = 2 + 3 + MAX_REF + 1 + 20;
    if link > group { link } else { group }
};

/// The ledger's longest id.
pub const LEDGER_MAX_ID: usize = 128;

/// Whether `<promotion>:<activity>` fits the ledger's id rule for the
/// longest promotion id and activity id.
pub const fn reward_id_fits() -> bool {
    MAX_REF + 1 + MAX_ACTIVITY_ID <= LEDGER_MAX_ID
}

const _: () = assert!(reward_id_fits());

/// The id of a group's activity: `<network>:g:<group_id>:<sequence>` (its
/// own namespace: no group id can make it another group's or a link's).
pub fn group_activity_id(key: &GroupKey, sequence: u64) -> String {
    format!("{}:g:{}:{sequence}", key.network.name(), key.group_id)
}

/// The id of an account link's activity: `<network>:l:<user>`.
pub fn link_activity_id(network: Network, user: &str) -> String {
    format!("{}:l:{user}", network.name())
}

/// A social network the poller speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Network {
    /// VKontakte.
    Vk,
}

impl Network {
    /// Its short name (`vk`): in stream names, activity ids, ledger events.
    pub fn name(self) -> &'static str {
        match self {
            Network::Vk => "vk",
        }
    }

    /// The network named `name`.
    pub fn from_name(name: &str) -> Option<Network> {
        (name == "vk").then_some(Network::Vk)
    }
}

/// What a user did in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActivityKind {
    /// Joined the group.
    GroupJoin,
    /// Left the group.
    GroupLeave,
    /// Liked a post.
    Like,
    /// Took a like back.
    Unlike,
    /// Commented a post.
    Comment,
    /// A comment disappeared.
    CommentDelete,
    /// Reposted a post.
    Repost,
    /// A repost disappeared.
    RepostDelete,
    /// The account was linked to a member (belongs to no group).
    AccountLink,
}

impl ActivityKind {
    /// Every kind.
    pub const ALL: [ActivityKind; 9] = [
        ActivityKind::GroupJoin,
        ActivityKind::GroupLeave,
        ActivityKind::Like,
        ActivityKind::Unlike,
        ActivityKind::Comment,
        ActivityKind::CommentDelete,
        ActivityKind::Repost,
        ActivityKind::RepostDelete,
        ActivityKind::AccountLink,
    ];

    /// Snake-case name (the ledger's `activity` field).
    pub fn name(self) -> &'static str {
        match self {
            ActivityKind::GroupJoin => "group_join",
            ActivityKind::GroupLeave => "group_leave",
            ActivityKind::Like => "like",
            ActivityKind::Unlike => "unlike",
            ActivityKind::Comment => "comment",
            ActivityKind::CommentDelete => "comment_delete",
            ActivityKind::Repost => "repost",
            ActivityKind::RepostDelete => "repost_delete",
            ActivityKind::AccountLink => "account_link",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<ActivityKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// True for a kind that takes earlier activity back.
    pub fn is_removal(self) -> bool {
        matches!(
            self,
            ActivityKind::GroupLeave
                | ActivityKind::Unlike
                | ActivityKind::CommentDelete
                | ActivityKind::RepostDelete
        )
    }
}

/// Checks a reference (group id, promotion id, credentials name): 1 to
/// [`MAX_REF`] characters of `[0-9A-Za-z_.-]`.
pub fn check_ref(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.len() > MAX_REF {
        return Err(format!("must be at most {MAX_REF} characters"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err("may hold only 0-9, A-Z, a-z, '_', '.', '-'".into());
    }
    Ok(())
}

/// Checks a group id: a reference ([`check_ref`]) that is a positive
/// number (the group's id) or a screen name (not a number).
pub fn check_group_id(value: &str) -> Result<(), String> {
    check_ref(value)?;
    let numeric = value.trim_start_matches('-');
    if value.starts_with('-')
        || (numeric.bytes().all(|b| b.is_ascii_digit()) && !numeric.is_empty())
    {
        match value.parse::<i64>() {
            Ok(id) if id > 0 => {}
            _ => return Err("must be a positive number or a screen name".into()),
        }
    }
    Ok(())
}

/// A group of the program in a network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The network.
    pub network: Network,
    /// The group's id there (checked by [`check_ref`]).
    pub group_id: String,
}

impl GroupKey {
    /// The "group" of an account link: the network, no group id.
    pub fn no_group(network: Network) -> Self {
        GroupKey {
            network,
            group_id: String::new(),
        }
    }

    /// The group's stream in the log: `group/<network>/<group_id>`.
    pub fn stream(&self) -> String {
        format!("group/{}/{}", self.network.name(), self.group_id)
    }
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.network.name(), self.group_id)
    }
}

/// One piece of detected activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// [`group_activity_id`] or [`link_activity_id`]: unique, stable across
    /// restarts, at most [`MAX_ACTIVITY_ID`] bytes.
    pub id: String,
    /// Where.
    pub group: GroupKey,
    /// What.
    pub kind: ActivityKind,
    /// Who (the network's user id).
    pub user: String,
    /// The post; empty for joins and leaves.
    pub post_id: String,
    /// The comment's or repost's own id, when it has one.
    pub object_id: String,
    /// When a poll detected it.
    pub detected_at: DateTime<Utc>,
    /// The activity this one takes back, when known.
    pub reverses: Option<String>,
    /// Part of a group's first poll's baseline: earns nothing.
    pub baseline: bool,
}

impl Activity {
    /// The sequence number at the end of its id.
    pub fn sequence(&self) -> u64 {
        self.id
            .rsplit(':')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_bounded_and_plain() {
        assert!(check_ref("club_1.2-x").is_ok());
        assert!(check_ref("").is_err());
        assert!(check_ref(&"a".repeat(MAX_REF + 1)).is_err());
        assert!(check_ref("a/b").is_err());
        assert!(check_ref("я").is_err());
    }

    #[test]
    fn group_ids_are_positive_numbers_or_screen_names() {
        for ok in ["42", "club_shop", "a-b", "9223372036854775807"] {
            assert_eq!(check_group_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "-42",
            "-9223372036854775808",
            "0",
            "9223372036854775808",
            "-abc",
            "",
        ] {
            assert!(check_group_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn group_and_link_ids_live_apart_and_fit_the_ledger() {
        let link_group = GroupKey {
            network: Network::Vk,
            group_id: "link".into(),
        };
        assert_eq!(group_activity_id(&link_group, 5), "vk:g:link:5");
        assert_eq!(link_activity_id(Network::Vk, "5"), "vk:l:5");
        assert_ne!(
            group_activity_id(&link_group, 5),
            link_activity_id(Network::Vk, "link:5")
        );
        let longest_group = GroupKey {
            network: Network::Vk,
            group_id: "g".repeat(MAX_REF),
        };
        let ids = [
            group_activity_id(&longest_group, u64::MAX),
            link_activity_id(Network::Vk, &"9".repeat(MAX_EXTERNAL_ID)),
        ];
        for id in ids {
            assert!(id.len() <= MAX_ACTIVITY_ID, "{id}");
            let reward = format!("{}:{id}", "p".repeat(MAX_REF));
            assert!(reward.len() <= LEDGER_MAX_ID && !reward.contains('/'));
        }
    }
}
