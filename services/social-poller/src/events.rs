//! The service's events ⇄ the proto messages stored in the log and
//! published on NATS (`loyalty.social.<event>`). Rewards and penalties are
//! stored as the ledger's own inbound messages, so the outbox publishes
//! exactly what the ledger consumes.

pub mod wire;

use kit::aggregate::{DecodeError, DomainEvent};
use kit::outbox::ProtoJsonCodec;
use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as ledger;
use loyalty_proto::social::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;

use crate::domain::activity::{Activity, ActivityKind, Network};
use crate::domain::{catalog, group, held, member};
use wire::{activity_from_wire, activity_to_wire, time_from_wire, time_to_wire};

/// The event types (proto full names).
pub mod types {
    /// `GroupConnected`.
    pub const GROUP_CONNECTED: &str = "loyalty.social.v1.GroupConnected";
    /// `GroupDisabled`.
    pub const GROUP_DISABLED: &str = "loyalty.social.v1.GroupDisabled";
    /// `GroupPolled`.
    pub const GROUP_POLLED: &str = "loyalty.social.v1.GroupPolled";
    /// `ActivityDetected`.
    pub const ACTIVITY_DETECTED: &str = "loyalty.social.v1.ActivityDetected";
    /// `ActivityRemoved`.
    pub const ACTIVITY_REMOVED: &str = "loyalty.social.v1.ActivityRemoved";
    /// `ActivityHeld`.
    pub const ACTIVITY_HELD: &str = "loyalty.social.v1.ActivityHeld";
    /// `ActivityCredited`.
    pub const ACTIVITY_CREDITED: &str = "loyalty.social.v1.ActivityCredited";
    /// `PromotionConfigured`.
    pub const PROMOTION_CONFIGURED: &str = "loyalty.social.v1.PromotionConfigured";
    /// `CounterChanged`.
    pub const COUNTER_CHANGED: &str = "loyalty.social.v1.CounterChanged";
    /// The ledger's `SocialRewardGranted`.
    pub const REWARD_GRANTED: &str = "loyalty.ledger.v1.SocialRewardGranted";
    /// The ledger's `SocialPenaltyApplied`.
    pub const PENALTY_APPLIED: &str = "loyalty.ledger.v1.SocialPenaltyApplied";
}

/// The outbox's codec: every event type of the service.
pub fn json_codec() -> ProtoJsonCodec {
    ProtoJsonCodec::new()
        .register::<pb::GroupConnected>(types::GROUP_CONNECTED)
        .register::<pb::GroupDisabled>(types::GROUP_DISABLED)
        .register::<pb::GroupPolled>(types::GROUP_POLLED)
        .register::<pb::ActivityDetected>(types::ACTIVITY_DETECTED)
        .register::<pb::ActivityRemoved>(types::ACTIVITY_REMOVED)
        .register::<pb::ActivityHeld>(types::ACTIVITY_HELD)
        .register::<pb::ActivityCredited>(types::ACTIVITY_CREDITED)
        .register::<pb::PromotionConfigured>(types::PROMOTION_CONFIGURED)
        .register::<pb::CounterChanged>(types::COUNTER_CHANGED)
        .register::<ledger::SocialRewardGranted>(types::REWARD_GRANTED)
        .register::<ledger::SocialPenaltyApplied>(types::PENALTY_APPLIED)
}

struct Decoder<'a> {
    event_type: &'a str,
}

impl Decoder<'_> {
    fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            event_type: self.event_type.to_owned(),
            reason: reason.into(),
        }
    }

    fn message<M: Message + Default>(&self, payload: &[u8]) -> Result<M, DecodeError> {
        M::decode(payload).map_err(|e| self.err(e.to_string()))
    }

    fn unknown<T>(&self) -> Result<T, DecodeError> {
        Err(self.err("not an event of this aggregate"))
    }

    fn activity(&self, a: Option<pb::Activity>) -> Result<Activity, DecodeError> {
        activity_from_wire(a).map_err(|e| self.err(e))
    }

    fn decimal(&self, field: &str, value: &str) -> Result<Decimal, DecodeError> {
        value
            .parse()
            .map_err(|_| self.err(format!("{field}: {value:?} is not a decimal")))
    }
}

impl DomainEvent for group::Event {
    fn event_type(&self) -> &'static str {
        match self {
            group::Event::Connected { .. } => types::GROUP_CONNECTED,
            group::Event::Disabled { .. } => types::GROUP_DISABLED,
            group::Event::Detected(_) => types::ACTIVITY_DETECTED,
            group::Event::Removed(_) => types::ACTIVITY_REMOVED,
            group::Event::Polled { .. } => types::GROUP_POLLED,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            group::Event::Connected { settings, at } => pb::GroupConnected {
                settings: Some(wire::settings_to_wire(settings)),
                connected_at: time_to_wire(*at),
            }
            .encode_to_vec(),
            group::Event::Disabled { key, reason, at } => pb::GroupDisabled {
                network: wire::network_to_wire(key.network) as i32,
                group_id: key.group_id.clone(),
                reason: reason.clone(),
                disabled_at: time_to_wire(*at),
            }
            .encode_to_vec(),
            group::Event::Detected(a) => pb::ActivityDetected {
                activity: Some(activity_to_wire(a)),
            }
            .encode_to_vec(),
            group::Event::Removed(a) => pb::ActivityRemoved {
                activity: Some(activity_to_wire(a)),
            }
            .encode_to_vec(),
            group::Event::Polled {
                key,
                members,
                posts,
                at,
            } => pb::GroupPolled {
                network: wire::network_to_wire(key.network) as i32,
                group_id: key.group_id.clone(),
                members: *members,
                posts: posts.clone(),
                polled_at: time_to_wire(*at),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        let key = |network: i32, group_id: &str| {
            let mut f = wire::Faults::new();
            wire::group_key(network, group_id, &mut f, "").ok_or_else(|| d.err(format!("{f:?}")))
        };
        let time = |t| time_from_wire(t).map_err(|e| d.err(format!("time {e}")));
        Ok(match event_type {
            types::GROUP_CONNECTED => {
                let m: pb::GroupConnected = d.message(payload)?;
                let s = m.settings.unwrap_or_default();
                group::Event::Connected {
                    settings: wire::settings_from_wire(&s, 0, 0)
                        .map_err(|f| d.err(format!("{f:?}")))?,
                    at: time(m.connected_at)?,
                }
            }
            types::GROUP_DISABLED => {
                let m: pb::GroupDisabled = d.message(payload)?;
                group::Event::Disabled {
                    key: key(m.network, &m.group_id)?,
                    reason: m.reason,
                    at: time(m.disabled_at)?,
                }
            }
            types::ACTIVITY_DETECTED => {
                let m: pb::ActivityDetected = d.message(payload)?;
                group::Event::Detected(d.activity(m.activity)?)
            }
            types::ACTIVITY_REMOVED => {
                let m: pb::ActivityRemoved = d.message(payload)?;
                group::Event::Removed(d.activity(m.activity)?)
            }
            types::GROUP_POLLED => {
                let m: pb::GroupPolled = d.message(payload)?;
                group::Event::Polled {
                    key: key(m.network, &m.group_id)?,
                    members: m.members,
                    posts: m.posts,
                    at: time(m.polled_at)?,
                }
            }
            _ => return d.unknown(),
        })
    }
}

impl DomainEvent for catalog::Configured {
    fn event_type(&self) -> &'static str {
        types::PROMOTION_CONFIGURED
    }

    fn encode(&self) -> Vec<u8> {
        pb::PromotionConfigured {
            promotion: Some(wire::promotion_to_wire(&self.promotion)),
            configured_at: time_to_wire(self.at),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if event_type != types::PROMOTION_CONFIGURED {
            return d.unknown();
        }
        let m: pb::PromotionConfigured = d.message(payload)?;
        Ok(catalog::Configured {
            promotion: wire::promotion_from_wire(&m.promotion.unwrap_or_default())
                .map_err(|f| d.err(format!("{f:?}")))?,
            at: time_from_wire(m.configured_at).map_err(|e| d.err(e))?,
        })
    }
}

fn money(p: &member::Points) -> Option<Money> {
    Some(Money {
        amount: p.amount.to_string(),
        currency: p.currency.clone(),
    })
}

impl DomainEvent for member::Event {
    fn event_type(&self) -> &'static str {
        match self {
            member::Event::CounterChanged { .. } => types::COUNTER_CHANGED,
            member::Event::Rewarded(_) => types::REWARD_GRANTED,
            member::Event::Penalised(_) => types::PENALTY_APPLIED,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            member::Event::CounterChanged {
                member_id,
                promotion_id,
                period,
                counter,
                activity_id,
            } => pb::CounterChanged {
                member_id: member_id.clone(),
                promotion_id: promotion_id.clone(),
                period: period.clone(),
                count: counter.count,
                granted: counter.granted.to_string(),
                activity_id: activity_id.clone(),
            }
            .encode_to_vec(),
            member::Event::Rewarded(p) => ledger::SocialRewardGranted {
                reward_id: p.id.clone(),
                member_id: p.member_id.clone(),
                amount: money(p),
                lifetime: String::new(),
                network: p.network.name().to_owned(),
                activity: p.kind.name().to_owned(),
                reason: p.reason.clone(),
                occurred_at: time_to_wire(p.occurred_at),
            }
            .encode_to_vec(),
            member::Event::Penalised(p) => ledger::SocialPenaltyApplied {
                penalty_id: p.id.clone(),
                member_id: p.member_id.clone(),
                amount: money(p),
                network: p.network.name().to_owned(),
                activity: p.kind.name().to_owned(),
                reason: p.reason.clone(),
                occurred_at: time_to_wire(p.occurred_at),
                reverses_activity_id: p.reverses.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        let points = |id: String,
                      member_id: String,
                      amount: Option<Money>,
                      network: &str,
                      activity: &str,
                      at,
                      reason| {
            let amount = amount.unwrap_or_default();
            Ok(member::Points {
                member_id,
                amount: d.decimal("amount", &amount.amount)?,
                currency: amount.currency,
                network: Network::from_name(network)
                    .ok_or_else(|| d.err(format!("unknown network {network:?}")))?,
                kind: ActivityKind::from_name(activity)
                    .ok_or_else(|| d.err(format!("unknown activity {activity:?}")))?,
                occurred_at: time_from_wire(at).map_err(|e| d.err(e))?,
                reason,
                id,
                reverses: String::new(),
            })
        };
        Ok(match event_type {
            types::COUNTER_CHANGED => {
                let m: pb::CounterChanged = d.message(payload)?;
                member::Event::CounterChanged {
                    counter: member::Counter {
                        count: m.count,
                        granted: d.decimal("granted", &m.granted)?,
                    },
                    member_id: m.member_id,
                    promotion_id: m.promotion_id,
                    period: m.period,
                    activity_id: m.activity_id,
                }
            }
            types::REWARD_GRANTED => {
                let m: ledger::SocialRewardGranted = d.message(payload)?;
                member::Event::Rewarded(points(
                    m.reward_id,
                    m.member_id,
                    m.amount,
                    &m.network,
                    &m.activity,
                    m.occurred_at,
                    m.reason,
                )?)
            }
            types::PENALTY_APPLIED => {
                let m: ledger::SocialPenaltyApplied = d.message(payload)?;
                member::Event::Penalised(member::Points {
                    reverses: m.reverses_activity_id,
                    ..points(
                        m.penalty_id,
                        m.member_id,
                        m.amount,
                        &m.network,
                        &m.activity,
                        m.occurred_at,
                        m.reason,
                    )?
                })
            }
            _ => return d.unknown(),
        })
    }
}

impl DomainEvent for held::Event {
    fn event_type(&self) -> &'static str {
        match self {
            held::Event::Held(_) => types::ACTIVITY_HELD,
            held::Event::Credited { .. } | held::Event::Linked { .. } => types::ACTIVITY_CREDITED,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            held::Event::Held(a) => pb::ActivityHeld {
                activity: Some(activity_to_wire(a)),
            }
            .encode_to_vec(),
            held::Event::Credited {
                activity,
                member_id,
            }
            | held::Event::Linked {
                link: activity,
                member_id,
            } => pb::ActivityCredited {
                activity: Some(activity_to_wire(activity)),
                member_id: member_id.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        Ok(match event_type {
            types::ACTIVITY_HELD => {
                let m: pb::ActivityHeld = d.message(payload)?;
                held::Event::Held(d.activity(m.activity)?)
            }
            types::ACTIVITY_CREDITED => {
                let m: pb::ActivityCredited = d.message(payload)?;
                let activity = d.activity(m.activity)?;
                // The account link's own activity marks the link.
                if activity.kind == ActivityKind::AccountLink {
                    held::Event::Linked {
                        link: activity,
                        member_id: m.member_id,
                    }
                } else {
                    held::Event::Credited {
                        activity,
                        member_id: m.member_id,
                    }
                }
            }
            _ => return d.unknown(),
        })
    }
}

impl DomainEvent for crate::domain::link::Linked {
    fn event_type(&self) -> &'static str {
        types::ACTIVITY_DETECTED
    }

    fn encode(&self) -> Vec<u8> {
        pb::ActivityDetected {
            activity: Some(activity_to_wire(&self.0)),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if event_type != types::ACTIVITY_DETECTED {
            return d.unknown();
        }
        let m: pb::ActivityDetected = d.message(payload)?;
        Ok(crate::domain::link::Linked(d.activity(m.activity)?))
    }
}
