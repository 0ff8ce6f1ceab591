//! The rewards and penalties the service published, as the ledger sees
//! them.

use std::collections::BTreeMap;

use async_nats::jetstream;
use rust_decimal::Decimal;
use tests_e2e::harness::stream::{self, header};

pub const REWARDS: &str = "loyalty.social.social_reward_granted";
pub const PENALTIES: &str = "loyalty.social.social_penalty_applied";

/// (member, signed amount, id) of each reward and penalty on NATS so far:
/// checked for the ledger's subject and `ce-type`.
pub async fn points(
    js: &jetstream::Context,
    rewards: usize,
    penalties: usize,
) -> Vec<(String, Decimal, String)> {
    let mut out = Vec::new();
    for (subject, n, ce_type, id, sign) in [
        (
            REWARDS,
            rewards,
            "loyalty.ledger.v1.SocialRewardGranted",
            "rewardId",
            Decimal::ONE,
        ),
        (
            PENALTIES,
            penalties,
            "loyalty.ledger.v1.SocialPenaltyApplied",
            "penaltyId",
            Decimal::NEGATIVE_ONE,
        ),
    ] {
        if n == 0 {
            continue;
        }
        for m in stream::read_count(js, subject, n).await.unwrap() {
            assert_eq!(m.subject.as_str(), subject);
            assert_eq!(header(&m, "ce-type"), ce_type);
            assert_eq!(header(&m, "ce-source"), "/loyalty/social");
            assert!(!header(&m, "ce-id").is_empty());
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            let amount: Decimal = v["amount"]["amount"].as_str().unwrap().parse().unwrap();
            out.push((
                v["memberId"].as_str().unwrap().to_owned(),
                amount * sign,
                v[id].as_str().unwrap().to_owned(),
            ));
        }
        assert_eq!(
            stream::count_on(js, subject).await.unwrap(),
            n as u64,
            "exactly {n} on {subject}"
        );
    }
    out
}

pub fn balances(points: &[(String, Decimal, String)]) -> BTreeMap<String, String> {
    let mut b: BTreeMap<String, Decimal> = BTreeMap::new();
    for (member, amount, _) in points {
        *b.entry(member.clone()).or_default() += amount;
    }
    b.into_iter().map(|(m, a)| (m, a.to_string())).collect()
}

pub fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(m, a)| (m.to_string(), a.to_string()))
        .collect()
}
