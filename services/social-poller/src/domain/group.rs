//! A connected group: its settings, its state (active or disabled) and its
//! snapshot — who is a member, and who liked, commented and reposted the
//! recent posts — folded from its own activity events. A poll's
//! observation is diffed against the snapshot: what changed becomes
//! activity, and the events are the new snapshot, so a restart resumes
//! from the log without counting anything twice.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;

use super::activity::{Activity, ActivityKind, GroupKey};

/// Most members a group's snapshot may hold.
pub const MAX_MEMBERS: usize = 2_000_000;
/// Most posts one poll reads.
pub const MAX_RECENT_POSTS: u32 = 100;
/// Most activity one append records (the event log takes at most 10 000
/// events an append): a larger diff — a big group's baseline — is recorded
/// in parts, each deciding on the snapshot the previous parts left; only
/// the last part ends with [`Event::Polled`].
pub const MAX_ACTIVITY_PER_APPEND: usize = 5_000;

/// A group's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Which group.
    pub key: GroupKey,
    /// Name of the access token in the secrets file.
    pub credentials_ref: String,
    /// Seconds between polls.
    pub poll_interval_secs: u32,
    /// Latest posts read per poll (1..=[`MAX_RECENT_POSTS`]).
    pub recent_posts: u32,
    /// Whether the first poll's findings earn (else they are a baseline).
    pub reward_existing: bool,
    /// Name of the Callback API secret (`None`: the group does not push).
    pub callback_secret_ref: Option<String>,
    /// What the Callback API's confirmation handshake answers.
    pub callback_confirmation: String,
}

/// One change a network pushed (VK's Callback API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `group_join`.
    Join {
        /// The user.
        user: String,
    },
    /// `group_leave`.
    Leave {
        /// The user.
        user: String,
    },
    /// `like_add` on a post.
    Like {
        /// The post.
        post: String,
        /// The user.
        user: String,
    },
    /// `like_remove` on a post.
    Unlike {
        /// The post.
        post: String,
        /// The user.
        user: String,
    },
    /// `wall_reply_new`.
    Comment {
        /// The post.
        post: String,
        /// The comment.
        comment: String,
        /// The author.
        user: String,
    },
    /// `wall_reply_delete` (the author is known from the snapshot).
    CommentDelete {
        /// The post.
        post: String,
        /// The comment.
        comment: String,
    },
    /// `wall_repost`.
    Repost {
        /// The post reposted.
        post: String,
        /// The repost's id (`<owner>_<id>`).
        repost: String,
        /// The user.
        user: String,
    },
}

/// What one post looks like now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostObservation {
    /// When it was published, if the network said.
    pub date: Option<DateTime<Utc>>,
    /// Whether its likes, comments and reposts were read to the end; an
    /// incomplete post (cut at a limit) detects no removals.
    pub complete: bool,
    /// Users who like it.
    pub likes: BTreeSet<String>,
    /// Comments: comment id → author.
    pub comments: BTreeMap<String, String>,
    /// Reposts: repost id → user.
    pub reposts: BTreeMap<String, String>,
}

/// What a poll saw: every member, and the recent posts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Every member of the group.
    pub members: BTreeSet<String>,
    /// Whether `members` is the whole listing (as many as the network
    /// counts); else the poll detects no leaves.
    pub members_complete: bool,
    /// The recent posts by id (others keep their snapshot).
    pub posts: BTreeMap<String, PostObservation>,
}

/// Commands of a group.
#[derive(Debug, Clone)]
pub enum Command {
    /// Connect or reconfigure (and re-enable).
    Connect {
        /// The settings.
        settings: Settings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Compare what a poll saw with the snapshot.
    Observe {
        /// What the poll saw.
        observation: Observation,
        /// The group's activity sequence when the poll began: later
        /// activity (pushed meanwhile) is never removed by this poll.
        since: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// A change the network pushed.
    Push {
        /// The change.
        change: Change,
        /// When.
        at: DateTime<Utc>,
    },
    /// The network refused the credentials.
    Disable {
        /// The network's code and message.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Events of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Connected or reconfigured.
    Connected {
        /// The settings.
        settings: Settings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Disabled with a reason.
    Disabled {
        /// Which group.
        key: GroupKey,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A join, like, comment or repost.
    Detected(Activity),
    /// A leave, unlike, deleted comment or deleted repost.
    Removed(Activity),
    /// A poll completed.
    Polled {
        /// Which group.
        key: GroupKey,
        /// Members now.
        members: u64,
        /// The posts read.
        posts: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Refusals of a group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// Never connected.
    #[error("the group is not connected: ConnectGroup first")]
    NotConnected,
    /// Disabled by an earlier refusal of the network.
    #[error("the group is disabled: {0}")]
    Disabled(String),
    /// The observation is larger than the service keeps.
    #[error("the group has more than {MAX_MEMBERS} members")]
    TooLarge,
}

/// A group as folded from its stream.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Settings; `None` before it is connected.
    pub settings: Option<Settings>,
    /// Why it is disabled; `None` while active.
    pub disabled: Option<String>,
    /// Completed polls.
    pub polls: u64,
    /// When the last poll completed.
    pub last_polled_at: Option<DateTime<Utc>>,
    /// When the first poll completed.
    pub first_polled_at: Option<DateTime<Utc>>,
    /// Posts some poll read.
    pub posts: BTreeSet<String>,
    /// Activity events so far (the last activity's sequence).
    pub sequence: u64,
    /// Members: user → the activity that saw them join.
    pub members: BTreeMap<String, String>,
    /// Likes: (post, user) → activity.
    pub likes: BTreeMap<(String, String), String>,
    /// Comments: (post, comment) → (author, activity).
    pub comments: BTreeMap<(String, String), (String, String)>,
    /// Reposts: (post, repost) → (user, activity).
    pub reposts: BTreeMap<(String, String), (String, String)>,
    /// Removals since the last poll: (removal kind, post, user or object)
    /// → sequence; a poll that began before one does not add it back.
    pub removed: BTreeMap<(ActivityKind, String, String), u64>,
}

/// Builds activity with consecutive ids.
struct Detector<'a> {
    key: &'a GroupKey,
    at: DateTime<Utc>,
    baseline: bool,
    sequence: u64,
    events: Vec<Event>,
}

impl Detector<'_> {
    fn push(
        &mut self,
        kind: ActivityKind,
        user: &str,
        post: &str,
        object: &str,
        reverses: Option<&String>,
    ) -> ControlFlow<()> {
        self.sequence += 1;
        let activity = Activity {
            id: super::activity::group_activity_id(self.key, self.sequence),
            group: self.key.clone(),
            kind,
            user: user.to_owned(),
            post_id: post.to_owned(),
            object_id: object.to_owned(),
            detected_at: self.at,
            reverses: reverses.cloned(),
            baseline: self.baseline,
        };
        self.events.push(if kind.is_removal() {
            Event::Removed(activity)
        } else {
            Event::Detected(activity)
        });
        // One past the part's limit says there is more: stop generating.
        if self.events.len() > MAX_ACTIVITY_PER_APPEND {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// The sequence at the end of an activity id.
fn sequence_of(activity: &str) -> u64 {
    activity
        .rsplit(':')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Group {
    /// The activity events that turn the snapshot into `seen` (plus the
    /// poll's own event); at most [`MAX_ACTIVITY_PER_APPEND`] of them, and
    /// then without the poll's event: observe the same again for the rest.
    /// Removals only of what the poll could see whole (complete listings)
    /// and of activity recorded before the poll began (`since`).
    pub fn diff(
        &self,
        settings: &Settings,
        seen: &Observation,
        since: u64,
        at: DateTime<Utc>,
    ) -> Vec<Event> {
        let key = &settings.key;
        let mut d = Detector {
            key,
            at,
            baseline: self.polls == 0 && !settings.reward_existing,
            sequence: self.sequence,
            events: Vec::new(),
        };
        if self.detect(settings, seen, since, &mut d).is_break() {
            let mut events = d.events;
            events.truncate(MAX_ACTIVITY_PER_APPEND);
            return events;
        }
        let mut events = d.events;
        events.push(Event::Polled {
            key: key.clone(),
            members: seen.members.len() as u64,
            posts: seen.posts.keys().cloned().collect(),
            at,
        });
        events
    }

    /// Whether a post's current likes, comments and reposts are a
    /// baseline: on the group's first poll (unless `reward_existing`), and
    /// on the first sighting of a post published before the first poll
    /// (pinned, or the window grew) — its activity is not new.
    fn post_baseline(&self, settings: &Settings, post: &str, now: &PostObservation) -> bool {
        if settings.reward_existing || self.posts.contains(post) {
            return self.polls == 0 && !settings.reward_existing;
        }
        match self.first_polled_at {
            None => true,
            Some(first) => now.date.is_none_or(|d| d <= first),
        }
    }

    fn detect(
        &self,
        settings: &Settings,
        seen: &Observation,
        since: u64,
        d: &mut Detector<'_>,
    ) -> ControlFlow<()> {
        let removable = |activity: &str| sequence_of(activity) <= since;
        // Removed (pushed) after the poll began: the observation is older.
        let gone = |kind, post: &str, other: &str| {
            self.removed
                .get(&(kind, post.to_owned(), other.to_owned()))
                .is_some_and(|s| *s > since)
        };
        for user in seen
            .members
            .iter()
            .filter(|u| !self.members.contains_key(*u) && !gone(ActivityKind::GroupLeave, "", u))
        {
            d.push(ActivityKind::GroupJoin, user, "", "", None)?;
        }
        if seen.members_complete {
            for (user, joined) in self
                .members
                .iter()
                .filter(|(u, j)| !seen.members.contains(*u) && removable(j))
            {
                d.push(ActivityKind::GroupLeave, user, "", "", Some(joined))?;
            }
        }
        let group_baseline = d.baseline;
        for (post, now) in &seen.posts {
            d.baseline = self.post_baseline(settings, post, now);
            // An incomplete post (cut at a limit) removes nothing.
            let known = |(p, _): &(String, String)| p == post && now.complete;
            for user in &now.likes {
                if !self.likes.contains_key(&(post.clone(), user.clone()))
                    && !gone(ActivityKind::Unlike, post, user)
                {
                    d.push(ActivityKind::Like, user, post, "", None)?;
                }
            }
            for ((_, user), liked) in self.likes.iter().filter(|(k, _)| known(k)) {
                if !now.likes.contains(user) && removable(liked) {
                    d.push(ActivityKind::Unlike, user, post, "", Some(liked))?;
                }
            }
            for (comment, user) in &now.comments {
                if !self.comments.contains_key(&(post.clone(), comment.clone()))
                    && !gone(ActivityKind::CommentDelete, post, comment)
                {
                    d.push(ActivityKind::Comment, user, post, comment, None)?;
                }
            }
            for ((_, comment), (user, made)) in self.comments.iter().filter(|(k, _)| known(k)) {
                if !now.comments.contains_key(comment) && removable(made) {
                    d.push(ActivityKind::CommentDelete, user, post, comment, Some(made))?;
                }
            }
            for (repost, user) in &now.reposts {
                if !self.reposts.contains_key(&(post.clone(), repost.clone()))
                    && !gone(ActivityKind::RepostDelete, post, repost)
                {
                    d.push(ActivityKind::Repost, user, post, repost, None)?;
                }
            }
            for ((_, repost), (user, made)) in self.reposts.iter().filter(|(k, _)| known(k)) {
                if !now.reposts.contains_key(repost) && removable(made) {
                    d.push(ActivityKind::RepostDelete, user, post, repost, Some(made))?;
                }
            }
            d.baseline = group_baseline;
        }
        ControlFlow::Continue(())
    }

    /// The activity of one pushed change against the snapshot: nothing
    /// when the snapshot has it already (a poll saw it first, or VK sent
    /// it twice).
    pub fn push(&self, key: &GroupKey, change: &Change, at: DateTime<Utc>) -> Vec<Event> {
        let mut d = Detector {
            key,
            at,
            baseline: false,
            sequence: self.sequence,
            events: Vec::new(),
        };
        let pair = |post: &str, other: &str| (post.to_owned(), other.to_owned());
        match change {
            Change::Join { user } if !self.members.contains_key(user) => {
                let _ = d.push(ActivityKind::GroupJoin, user, "", "", None);
            }
            Change::Leave { user } => {
                if let Some(joined) = self.members.get(user) {
                    let _ = d.push(ActivityKind::GroupLeave, user, "", "", Some(joined));
                }
            }
            Change::Like { post, user } if !self.likes.contains_key(&pair(post, user)) => {
                let _ = d.push(ActivityKind::Like, user, post, "", None);
            }
            Change::Unlike { post, user } => {
                if let Some(liked) = self.likes.get(&pair(post, user)) {
                    let _ = d.push(ActivityKind::Unlike, user, post, "", Some(liked));
                }
            }
            Change::Comment {
                post,
                comment,
                user,
            } if !self.comments.contains_key(&pair(post, comment)) => {
                let _ = d.push(ActivityKind::Comment, user, post, comment, None);
            }
            Change::CommentDelete { post, comment } => {
                if let Some((user, made)) = self.comments.get(&pair(post, comment)) {
                    let _ = d.push(ActivityKind::CommentDelete, user, post, comment, Some(made));
                }
            }
            Change::Repost { post, repost, user }
                if !self.reposts.contains_key(&pair(post, repost)) =>
            {
                let _ = d.push(ActivityKind::Repost, user, post, repost, None);
            }
            _ => {}
        }
        d.events
    }

    fn fold_activity(&mut self, a: &Activity) {
        self.sequence = self.sequence.max(a.sequence());
        if a.kind.is_removal() {
            let other = if a.object_id.is_empty() {
                &a.user
            } else {
                &a.object_id
            };
            self.removed
                .insert((a.kind, a.post_id.clone(), other.clone()), a.sequence());
        }
        let post = a.post_id.clone();
        match a.kind {
            ActivityKind::GroupJoin => {
                self.members.insert(a.user.clone(), a.id.clone());
            }
            ActivityKind::GroupLeave => {
                self.members.remove(&a.user);
            }
            ActivityKind::Like => {
                self.likes.insert((post, a.user.clone()), a.id.clone());
            }
            ActivityKind::Unlike => {
                self.likes.remove(&(post, a.user.clone()));
            }
            ActivityKind::Comment => {
                self.comments
                    .insert((post, a.object_id.clone()), (a.user.clone(), a.id.clone()));
            }
            ActivityKind::CommentDelete => {
                self.comments.remove(&(post, a.object_id.clone()));
            }
            ActivityKind::Repost => {
                self.reposts
                    .insert((post, a.object_id.clone()), (a.user.clone(), a.id.clone()));
            }
            ActivityKind::RepostDelete => {
                self.reposts.remove(&(post, a.object_id.clone()));
            }
            ActivityKind::AccountLink => {}
        }
    }
}

impl Aggregate for Group {
    type Command = Command;
    type Event = Event;
    type Error = GroupError;

    fn decide(&self, command: &Command) -> Result<Vec<Event>, GroupError> {
        match command {
            Command::Connect { settings, at } => {
                if self.settings.as_ref() == Some(settings) && self.disabled.is_none() {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::Connected {
                    settings: settings.clone(),
                    at: *at,
                }])
            }
            Command::Observe {
                observation,
                since,
                at,
            } => {
                let settings = self.settings.as_ref().ok_or(GroupError::NotConnected)?;
                if let Some(reason) = &self.disabled {
                    return Err(GroupError::Disabled(reason.clone()));
                }
                if observation.members.len() > MAX_MEMBERS {
                    return Err(GroupError::TooLarge);
                }
                Ok(self.diff(settings, observation, *since, *at))
            }
            Command::Push { change, at } => {
                let settings = self.settings.as_ref().ok_or(GroupError::NotConnected)?;
                Ok(self.push(&settings.key, change, *at))
            }
            Command::Disable { reason, at } => {
                let settings = self.settings.as_ref().ok_or(GroupError::NotConnected)?;
                if self.disabled.is_some() {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::Disabled {
                    key: settings.key.clone(),
                    reason: reason.clone(),
                    at: *at,
                }])
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Connected { settings, .. } => {
                self.settings = Some(settings.clone());
                self.disabled = None;
            }
            Event::Disabled { reason, .. } => self.disabled = Some(reason.clone()),
            Event::Detected(a) | Event::Removed(a) => self.fold_activity(a),
            Event::Polled { at, posts, .. } => {
                self.polls += 1;
                self.last_polled_at = Some(*at);
                self.first_polled_at.get_or_insert(*at);
                self.removed.clear();
                self.posts.extend(posts.iter().cloned());
            }
        }
    }
}
