//! The member's promotions, given / when / then: tiers and caps per period,
//! withdrawal of what a reversed activity earned, idempotence.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use chrono::{DateTime, TimeZone, Utc};
use kit::aggregate::given_when;
use rust_decimal::Decimal;
use social_poller::domain::activity::{Activity, ActivityKind, GroupKey, Network};
use social_poller::domain::member::{Apply, Event, Member};
use social_poller::domain::promotion::{Action, Period, Promotion, Tier};

fn at(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).unwrap()
}

fn activity(seq: u64, kind: ActivityKind, when: DateTime<Utc>, reverses: Option<u64>) -> Activity {
    Activity {
        id: format!("vk:g:42:{seq}"),
        group: GroupKey {
            network: Network::Vk,
            group_id: "42".into(),
        },
        kind,
        user: "1001".into(),
        post_id: "7".into(),
        object_id: String::new(),
        detected_at: when,
        reverses: reverses.map(|r| format!("vk:g:42:{r}")),
        baseline: false,
    }
}

fn promotion(id: &str, kinds: &[ActivityKind], action: Action) -> Promotion {
    Promotion {
        id: id.into(),
        title: format!("{id} promotion"),
        network: Some(Network::Vk),
        group_id: None,
        kinds: kinds.to_vec(),
        action,
        tiers: Vec::new(),
        amount: None,
        period: Period::Month,
        max_points: None,
        max_count: 0,
        currency: String::new(),
        disabled: false,
    }
}

fn likes() -> Promotion {
    Promotion {
        tiers: vec![
            Tier {
                from_count: 1,
                amount: Decimal::from(5),
            },
            Tier {
                from_count: 2,
                amount: Decimal::ONE,
            },
        ],
        max_points: Some(Decimal::from(15)),
        ..promotion("likes", &[ActivityKind::Like], Action::Accrue)
    }
}

fn apply(a: Activity, promotions: &[Promotion]) -> Apply {
    Apply {
        member_id: "m-1".into(),
        activity: a,
        promotions: promotions.to_vec(),
    }
}

fn rewards(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rewarded(p) => Some(format!("+{}", p.amount)),
            Event::Penalised(p) => Some(format!("-{}", p.amount)),
            Event::CounterChanged { .. } => None,
        })
        .collect()
}

/// Applies every activity in turn; the rewards of each.
fn run(activities: Vec<Activity>, promotions: &[Promotion]) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut all = Vec::new();
    for a in activities {
        let new = given_when::<Member>(&events, &apply(a, promotions)).unwrap();
        all.extend(rewards(&new));
        events.extend(new);
    }
    (events, all)
}

#[test]
fn five_for_the_first_like_one_for_each_next_no_more_than_fifteen_a_month() {
    let mut likes_in_nov: Vec<Activity> = (1..=13)
        .map(|n| activity(n, ActivityKind::Like, at(11, 2), None))
        .collect();
    likes_in_nov.push(activity(14, ActivityKind::Like, at(12, 1), None));
    likes_in_nov.push(activity(15, ActivityKind::Like, at(12, 1), None));
    let (events, granted) = run(likes_in_nov, &[likes()]);
    assert_eq!(
        granted,
        [
            "+5", "+1", "+1", "+1", "+1", "+1", "+1", "+1", "+1", "+1", "+1", "+5", "+1"
        ]
    );
    let m: Member = kit::aggregate::replay(&events);
    let nov = &m.counters[&("likes".to_owned(), "2026-11".to_owned())];
    assert_eq!((nov.count, nov.granted), (13, Decimal::from(15)));
    let dec = &m.counters[&("likes".to_owned(), "2026-12".to_owned())];
    assert_eq!((dec.count, dec.granted), (2, Decimal::from(6)));
}

#[test]
fn a_reward_id_is_the_promotion_and_the_activity() {
    let (events, _) = run(
        vec![activity(9, ActivityKind::Like, at(11, 2), None)],
        &[likes()],
    );
    let Some(Event::Rewarded(p)) = events.iter().find(|e| matches!(e, Event::Rewarded(_))) else {
        panic!("no reward: {events:?}")
    };
    assert_eq!(p.id, "likes:vk:g:42:9");
    assert_eq!(p.member_id, "m-1");
    assert_eq!(p.reason, "likes promotion");
}

#[test]
fn leaving_the_group_and_deleting_a_repost_take_back_what_they_earned() {
    let join = Promotion {
        tiers: vec![Tier {
            from_count: 1,
            amount: Decimal::from(10),
        }],
        ..promotion("join", &[ActivityKind::GroupJoin], Action::Accrue)
    };
    let repost = Promotion {
        tiers: vec![Tier {
            from_count: 1,
            amount: Decimal::from(3),
        }],
        ..promotion("repost", &[ActivityKind::Repost], Action::Accrue)
    };
    let back = promotion(
        "take-back",
        &[ActivityKind::GroupLeave, ActivityKind::RepostDelete],
        Action::Withdraw,
    );
    let fixed = Promotion {
        amount: Some(Decimal::from(2)),
        ..promotion("fine", &[ActivityKind::Unlike], Action::Withdraw)
    };
    let all = [join, repost, back, fixed];
    let (_, moved) = run(
        vec![
            activity(1, ActivityKind::GroupJoin, at(11, 2), None),
            activity(2, ActivityKind::Repost, at(11, 2), None),
            activity(3, ActivityKind::RepostDelete, at(11, 3), Some(2)),
            activity(4, ActivityKind::Unlike, at(11, 3), Some(99)),
            activity(5, ActivityKind::GroupLeave, at(11, 4), Some(1)),
            activity(6, ActivityKind::GroupLeave, at(11, 4), Some(77)),
        ],
        &all,
    );
    // The unlike takes back a like that earned nothing: no fine.
    assert_eq!(moved, ["+10", "+3", "-3", "-10"]);
}

#[test]
fn penalties_never_take_more_than_the_reversed_activity_earned() {
    let like = Promotion {
        tiers: vec![Tier {
            from_count: 1,
            amount: Decimal::from(3),
        }],
        ..promotion("like", &[ActivityKind::Like], Action::Accrue)
    };
    let join = Promotion {
        tiers: vec![Tier {
            from_count: 1,
            amount: Decimal::from(10),
        }],
        ..promotion("join", &[ActivityKind::GroupJoin], Action::Accrue)
    };
    let fine = Promotion {
        amount: Some(Decimal::from(5)),
        ..promotion(
            "fine",
            &[ActivityKind::Unlike, ActivityKind::GroupLeave],
            Action::Withdraw,
        )
    };
    let back = promotion("take-back", &[ActivityKind::GroupLeave], Action::Withdraw);
    let fine_again = Promotion {
        id: "fine-again".into(),
        ..fine.clone()
    };
    let all = [like, join, fine, back, fine_again];
    let (_, moved) = run(
        vec![
            activity(1, ActivityKind::Like, at(11, 2), None),
            // A fixed fine of 5 on an unlike of a like that earned 3: 3.
            activity(2, ActivityKind::Unlike, at(11, 3), Some(1)),
            activity(3, ActivityKind::GroupJoin, at(11, 3), None),
            // Three penalties on a leave of a join that earned 10: 5, the
            // remaining 5, then nothing.
            activity(4, ActivityKind::GroupLeave, at(11, 4), Some(3)),
            // A leave reversing nothing earned: nothing.
            activity(5, ActivityKind::GroupLeave, at(11, 4), None),
            // The same join reversed again: what was taken back is gone.
            activity(6, ActivityKind::GroupLeave, at(11, 5), Some(3)),
        ],
        &all,
    );
    assert_eq!(moved, ["+3", "-3", "+10", "-5", "-5"]);
}

#[test]
fn an_activity_applied_twice_counts_once_and_baselines_and_disabled_promotions_count_never() {
    let a = activity(1, ActivityKind::Like, at(11, 2), None);
    let first = given_when::<Member>(&[], &apply(a.clone(), &[likes()])).unwrap();
    assert_eq!(rewards(&first), ["+5"]);
    assert_eq!(
        given_when::<Member>(&first, &apply(a.clone(), &[likes()])).unwrap(),
        []
    );
    let baseline = Activity {
        baseline: true,
        ..a.clone()
    };
    assert_eq!(
        given_when::<Member>(&[], &apply(baseline, &[likes()])).unwrap(),
        []
    );
    let off = Promotion {
        disabled: true,
        ..likes()
    };
    assert_eq!(given_when::<Member>(&[], &apply(a, &[off])).unwrap(), []);
}

#[test]
fn counting_promotions_count_and_cap_by_count() {
    let count = promotion("comments", &[ActivityKind::Comment], Action::Count);
    let capped = Promotion {
        tiers: vec![Tier {
            from_count: 1,
            amount: Decimal::from(2),
        }],
        max_count: 2,
        period: Period::Day,
        ..promotion("capped", &[ActivityKind::Comment], Action::Accrue)
    };
    let (events, moved) = run(
        (1..=4)
            .map(|n| activity(n, ActivityKind::Comment, at(11, 2), None))
            .collect(),
        &[count, capped],
    );
    assert_eq!(moved, ["+2", "+2"]);
    let m: Member = kit::aggregate::replay(&events);
    assert_eq!(
        m.counters[&("comments".to_owned(), "2026-11".to_owned())].count,
        4
    );
    assert_eq!(
        m.counters[&("capped".to_owned(), "2026-11-02".to_owned())].granted,
        Decimal::from(4)
    );
}
