//! Domain values ⇄ their proto messages, shared by the events and the
//! gRPC edge. Reading a message checks every field and names each broken
//! one.

use chrono::{DateTime, Utc};
use loyalty_proto::social::v1 as pb;
use loyalty_proto::wkt::Timestamp;
use rust_decimal::Decimal;

use crate::domain::activity::{Activity, ActivityKind, GroupKey, Network, check_ref};
use crate::domain::group::{MAX_RECENT_POSTS, Settings};
use crate::domain::promotion::{Action, Period, Promotion, Tier, check_amount};

/// (field, why) of each broken rule.
pub type Faults = Vec<(String, String)>;

/// A network on the wire.
pub fn network_to_wire(n: Network) -> pb::Network {
    match n {
        Network::Vk => pb::Network::Vk,
    }
}

/// A network from the wire.
pub fn network_from_wire(n: i32) -> Option<Network> {
    match pb::Network::try_from(n).ok()? {
        pb::Network::Vk => Some(Network::Vk),
        pb::Network::Unspecified => None,
    }
}

/// A kind on the wire.
pub fn kind_to_wire(k: ActivityKind) -> pb::ActivityKind {
    match k {
        ActivityKind::GroupJoin => pb::ActivityKind::GroupJoin,
        ActivityKind::GroupLeave => pb::ActivityKind::GroupLeave,
        ActivityKind::Like => pb::ActivityKind::Like,
        ActivityKind::Unlike => pb::ActivityKind::Unlike,
        ActivityKind::Comment => pb::ActivityKind::Comment,
        ActivityKind::CommentDelete => pb::ActivityKind::CommentDelete,
        ActivityKind::Repost => pb::ActivityKind::Repost,
        ActivityKind::RepostDelete => pb::ActivityKind::RepostDelete,
        ActivityKind::AccountLink => pb::ActivityKind::AccountLink,
    }
}

/// A kind from the wire.
pub fn kind_from_wire(k: i32) -> Option<ActivityKind> {
    ActivityKind::ALL
        .into_iter()
        .find(|kind| kind_to_wire(*kind) as i32 == k)
}

/// A time on the wire.
pub fn time_to_wire(t: DateTime<Utc>) -> Option<Timestamp> {
    Some(t.into())
}

/// A time from the wire (required).
pub fn time_from_wire(t: Option<Timestamp>) -> Result<DateTime<Utc>, String> {
    t.ok_or("is required")?.try_into().map_err(str::to_owned)
}

/// A group key from its parts, checked.
pub fn group_key(network: i32, group_id: &str, faults: &mut Faults, at: &str) -> Option<GroupKey> {
    let n = network_from_wire(network);
    if n.is_none() {
        faults.push((format!("{at}network"), "must be a known network".into()));
    }
    if let Err(e) = crate::domain::activity::check_group_id(group_id) {
        faults.push((format!("{at}group_id"), e));
        return None;
    }
    Some(GroupKey {
        network: n?,
        group_id: group_id.to_owned(),
    })
}

/// Settings on the wire.
pub fn settings_to_wire(s: &Settings) -> pb::GroupSettings {
    pb::GroupSettings {
        network: network_to_wire(s.key.network) as i32,
        group_id: s.key.group_id.clone(),
        credentials_ref: s.credentials_ref.clone(),
        poll_interval_secs: s.poll_interval_secs,
        recent_posts: s.recent_posts,
        reward_existing: s.reward_existing,
        callback_secret_ref: s.callback_secret_ref.clone().unwrap_or_default(),
        callback_confirmation: s.callback_confirmation.clone(),
    }
}

/// Settings from the wire, with the service's defaults for zeros.
pub fn settings_from_wire(
    m: &pb::GroupSettings,
    default_interval: u32,
    default_posts: u32,
) -> Result<Settings, Faults> {
    let mut f = Faults::new();
    let key = group_key(m.network, &m.group_id, &mut f, "settings.");
    if let Err(e) = check_ref(&m.credentials_ref) {
        f.push(("settings.credentials_ref".into(), e));
    }
    let interval = if m.poll_interval_secs == 0 {
        default_interval
    } else {
        m.poll_interval_secs
    };
    if !(60..=86_400).contains(&interval) {
        f.push((
            "settings.poll_interval_secs".into(),
            "must be 60..=86400".into(),
        ));
    }
    let posts = if m.recent_posts == 0 {
        default_posts
    } else {
        m.recent_posts
    };
    if !(1..=MAX_RECENT_POSTS).contains(&posts) {
        f.push((
            "settings.recent_posts".into(),
            format!("must be 1..={MAX_RECENT_POSTS}"),
        ));
    }
    if !m.callback_secret_ref.is_empty()
        && let Err(e) = check_ref(&m.callback_secret_ref)
    {
        f.push(("settings.callback_secret_ref".into(), e));
    }
    if m.callback_confirmation.chars().count() > 64
        || m.callback_confirmation.chars().any(|c| c.is_control())
    {
        f.push((
            "settings.callback_confirmation".into(),
            "at most 64 printable characters".into(),
        ));
    }
    match key {
        Some(key) if f.is_empty() => Ok(Settings {
            key,
            credentials_ref: m.credentials_ref.clone(),
            poll_interval_secs: interval,
            recent_posts: posts,
            reward_existing: m.reward_existing,
            callback_secret_ref: Some(m.callback_secret_ref.clone()).filter(|r| !r.is_empty()),
            callback_confirmation: m.callback_confirmation.clone(),
        }),
        _ => Err(f),
    }
}

/// Activity on the wire.
pub fn activity_to_wire(a: &Activity) -> pb::Activity {
    pb::Activity {
        activity_id: a.id.clone(),
        network: network_to_wire(a.group.network) as i32,
        group_id: a.group.group_id.clone(),
        kind: kind_to_wire(a.kind) as i32,
        external_user_id: a.user.clone(),
        post_id: a.post_id.clone(),
        object_id: a.object_id.clone(),
        detected_at: time_to_wire(a.detected_at),
        reverses_activity_id: a.reverses.clone().unwrap_or_default(),
        baseline: a.baseline,
    }
}

/// Activity from the wire (stored events).
pub fn activity_from_wire(m: Option<pb::Activity>) -> Result<Activity, String> {
    let m = m.ok_or("activity is missing")?;
    let mut f = Faults::new();
    let kind = kind_from_wire(m.kind).ok_or("unknown activity kind")?;
    let group = if kind == ActivityKind::AccountLink {
        network_from_wire(m.network).map(GroupKey::no_group)
    } else {
        group_key(m.network, &m.group_id, &mut f, "")
    };
    let detected_at = time_from_wire(m.detected_at).map_err(|e| format!("detected_at {e}"))?;
    Ok(Activity {
        id: m.activity_id,
        group: group.ok_or_else(|| format!("{f:?}"))?,
        kind,
        user: m.external_user_id,
        post_id: m.post_id,
        object_id: m.object_id,
        detected_at,
        reverses: Some(m.reverses_activity_id).filter(|r| !r.is_empty()),
        baseline: m.baseline,
    })
}

fn amount(value: &str, field: String, f: &mut Faults) -> Option<Decimal> {
    match value.parse::<Decimal>() {
        Ok(d) => match check_amount(d) {
            Ok(d) => Some(d),
            Err(e) => {
                f.push((field, e));
                None
            }
        },
        Err(_) => {
            f.push((
                field,
                format!("{} is not a decimal number", kit::status::quote(value)),
            ));
            None
        }
    }
}

/// A promotion on the wire.
pub fn promotion_to_wire(p: &Promotion) -> pb::Promotion {
    pb::Promotion {
        promotion_id: p.id.clone(),
        title: p.title.clone(),
        condition: Some(pb::PromotionCondition {
            network: p.network.map_or(0, |n| network_to_wire(n) as i32),
            group_id: p.group_id.clone().unwrap_or_default(),
            kinds: p.kinds.iter().map(|k| kind_to_wire(*k) as i32).collect(),
        }),
        action: match p.action {
            Action::Accrue => pb::ActionKind::Accrue,
            Action::Withdraw => pb::ActionKind::Withdraw,
            Action::Count => pb::ActionKind::Count,
        } as i32,
        tiers: p
            .tiers
            .iter()
            .map(|t| pb::Tier {
                from_count: t.from_count,
                amount: t.amount.to_string(),
            })
            .collect(),
        amount: p.amount.map(|a| a.to_string()).unwrap_or_default(),
        period: match p.period {
            Period::Day => pb::Period::Day,
            Period::Month => pb::Period::Month,
            Period::AllTime => pb::Period::AllTime,
        } as i32,
        max_points_per_period: p.max_points.map(|a| a.to_string()).unwrap_or_default(),
        max_count_per_period: p.max_count,
        currency: p.currency.clone(),
        disabled: p.disabled,
    }
}

/// A promotion from the wire, every rule checked.
pub fn promotion_from_wire(m: &pb::Promotion) -> Result<Promotion, Faults> {
    let mut f = Faults::new();
    let c = m.condition.clone().unwrap_or_default();
    let network = match c.network {
        0 => None,
        n => {
            let n = network_from_wire(n);
            if n.is_none() {
                f.push((
                    "promotion.condition.network".into(),
                    "unknown network".into(),
                ));
            }
            n
        }
    };
    let all = ActivityKind::ALL.len();
    if c.kinds.len() > all {
        f.push((
            "promotion.condition.kinds".into(),
            format!("1 to {all} distinct kinds"),
        ));
    }
    let kinds: Vec<ActivityKind> = c
        .kinds
        .iter()
        .take(all)
        .filter_map(|k| kind_from_wire(*k))
        .collect();
    if kinds.len() != c.kinds.len().min(all) {
        f.push((
            "promotion.condition.kinds".into(),
            "unknown activity kind".into(),
        ));
    }
    let action = match pb::ActionKind::try_from(m.action) {
        Ok(pb::ActionKind::Accrue) => Action::Accrue,
        Ok(pb::ActionKind::Withdraw) => Action::Withdraw,
        Ok(pb::ActionKind::Count) => Action::Count,
        _ => {
            f.push((
                "promotion.action".into(),
                "must be ACCRUE, WITHDRAW or COUNT".into(),
            ));
            Action::Count
        }
    };
    let period = match pb::Period::try_from(m.period) {
        Ok(pb::Period::Day) => Period::Day,
        Ok(pb::Period::Month) => Period::Month,
        Ok(pb::Period::AllTime) => Period::AllTime,
        _ => {
            f.push((
                "promotion.period".into(),
                "must be DAY, MONTH or ALL_TIME".into(),
            ));
            Period::AllTime
        }
    };
    let tiers: Vec<Tier> = m
        .tiers
        .iter()
        .take(11)
        .enumerate()
        .filter_map(|(i, t)| {
            Some(Tier {
                from_count: t.from_count,
                amount: amount(&t.amount, format!("promotion.tiers[{i}].amount"), &mut f)?,
            })
        })
        .collect();
    let fixed = (!m.amount.is_empty())
        .then(|| amount(&m.amount, "promotion.amount".into(), &mut f))
        .flatten();
    let max_points = (!m.max_points_per_period.is_empty())
        .then(|| {
            amount(
                &m.max_points_per_period,
                "promotion.max_points_per_period".into(),
                &mut f,
            )
        })
        .flatten();
    let p = Promotion {
        id: m.promotion_id.clone(),
        title: m.title.clone(),
        network,
        group_id: Some(c.group_id).filter(|g| !g.is_empty()),
        kinds,
        action,
        tiers,
        amount: fixed,
        period,
        max_points,
        max_count: m.max_count_per_period,
        currency: m.currency.clone(),
        disabled: m.disabled,
    };
    f.extend(p.violations().into_iter().map(|(k, v)| (k.to_owned(), v)));
    if f.is_empty() { Ok(p) } else { Err(f) }
}
