//! The cheque calculation against the seed's worked example, and its
//! conservation over random cheques: no kopeck created or lost.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use purchases::domain::calc::{CalcError, Calculation, calculate, differs_from_paid, earn, pay};
use purchases::domain::cheque::{Cheque, Line};
use purchases::domain::refund::{PurchasedLine, RefundError, shares};
use purchases::domain::rules::{CARD_LOAD_EAN, Coupon, CouponValue, Rules};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn seed_line(amount: &str, discount: &str, price: &str) -> Line {
    Line {
        position: 1,
        amount: d(amount),
        goods_id: "0036961".into(),
        barcode: "8765653477".into(),
        quantity: d("1"),
        discount: d(discount),
        price: Some(d(price)).filter(|p| !p.is_zero()),
        name: "Товар100".into(),
        group: String::new(),
    }
}

fn cheque(lines: Vec<Line>) -> Cheque {
    Cheque {
        number: "string".into(),
        date: Some(Utc.with_ymd_and_hms(2019, 4, 9, 7, 24, 26).unwrap()),
        lines,
    }
}

#[test]
fn the_seeds_worked_example_gives_the_seeds_numbers() {
    let rules = Rules::default();
    let at = Utc.with_ymd_and_hms(2019, 4, 9, 7, 24, 26).unwrap();

    // Calculate: price 100, till discount 15, amount 85.
    let calc_cheque = cheque(vec![seed_line("85", "15", "100")]);
    assert_eq!(calc_cheque.lines[0].inconsistency(), None);
    let calc = calculate(&rules, &calc_cheque, &[], at).unwrap();
    assert_eq!(calc.lines[0].amount, d("76.5"));
    assert_eq!(calc.lines[0].discount, d("23.5"));
    assert_eq!(calc.total_amount, d("76.5"));
    assert_eq!(calc.total_discount, d("23.5"));
    assert_eq!(calc.payable, d("38.25"), "availableBonusAmount");

    // Payment of 36.5 points on the discounted cheque.
    let pay_cheque = cheque(vec![seed_line("76.5", "23.5", "100")]);
    assert_eq!(pay_cheque.lines[0].inconsistency(), None);
    let mut paid = Calculation::of(&rules, &pay_cheque).unwrap();
    assert_eq!(paid.payable, d("38.25"));
    pay(&rules, &mut paid, d("36.5")).unwrap();
    assert_eq!(paid.lines[0].paid, d("36.5"), "payAmount");
    assert_eq!(paid.total_amount, d("76.5"));
    assert_eq!(paid.total_discount, d("23.5"));

    // Bonus: pays Card 40 + Loymax 36.5; 10 points per 100 of the 40 paid
    // in money.
    let bonus_cheque = cheque(vec![seed_line("76.5", "0", "0")]);
    let mut bonus = Calculation::of(&rules, &bonus_cheque).unwrap();
    earn(
        &rules,
        &mut bonus,
        &bonus_cheque,
        &BTreeMap::from([(1, d("36.5"))]),
    )
    .unwrap();
    assert_eq!(bonus.earned, d("4.00"));
    assert_eq!(bonus.lines[0].earned, d("4.00"));
}

#[test]
fn more_points_than_the_cheque_allows_are_refused() {
    let rules = Rules::default();
    let mut c = Calculation::of(&rules, &cheque(vec![seed_line("76.5", "23.5", "100")])).unwrap();
    assert_eq!(
        pay(&rules, &mut c, d("38.26")),
        Err(CalcError::PaymentLimitExceeded {
            payable: d("38.25"),
            requested: d("38.26")
        })
    );
}

#[test]
fn bonus_earns_only_on_the_cheque_that_was_paid() {
    let rules = Rules::default();
    let paid = Calculation::of(&rules, &cheque(vec![seed_line("76.5", "23.5", "100")])).unwrap();
    // The same lines (another spelling of the amount, no price) are the same.
    let same = cheque(vec![seed_line("76.50", "0", "0")]);
    assert_eq!(differs_from_paid(&paid.lines, &same), None);
    // Another amount, another position, a line more: not the cheque paid.
    let dearer = cheque(vec![seed_line("96.5", "0", "0")]);
    assert!(differs_from_paid(&paid.lines, &dearer).is_some_and(|w| w.contains("line 1")));
    let mut moved = seed_line("76.5", "0", "0");
    moved.position = 2;
    assert!(differs_from_paid(&paid.lines, &cheque(vec![moved.clone()])).is_some());
    let more = cheque(vec![seed_line("76.5", "0", "0"), moved]);
    assert!(differs_from_paid(&paid.lines, &more).is_some_and(|w| w.contains("2 lines")));
}

#[test]
fn an_inconsistent_line_says_what_its_amount_should_be() {
    let line = seed_line("80", "15", "100");
    assert_eq!(line.inconsistency(), Some(d("85")));
}

#[test]
fn card_loads_are_neither_discounted_nor_payable_but_earn_and_load() {
    // Seed 002: a 59 EUR article and a 20 EUR card load; no program
    // discount, 10 % earned on everything paid.
    let rules = Rules {
        discounts: Vec::new(),
        cash_currency: "EUR".into(),
        ..Rules::default()
    };
    let mut load = seed_line("20", "0", "20");
    load.position = 2;
    load.barcode = CARD_LOAD_EAN.into();
    let mut article = seed_line("59", "0", "59");
    article.barcode = "30200".into();
    let c = cheque(vec![article, load]);
    let mut calc = calculate(&rules, &c, &[], Utc::now()).unwrap();
    assert_eq!(calc.total_amount, d("79"));
    assert_eq!(calc.charged, d("20"));
    assert_eq!(calc.lines[1].payable, Decimal::ZERO);
    earn(&rules, &mut calc, &c, &BTreeMap::new()).unwrap();
    assert_eq!(calc.earned, d("7.90"), "the seed's receipt: Bonus 7,90 EUR");
}

#[test]
fn coupons_take_their_percent_or_their_amount_and_must_be_valid() {
    let now = Utc::now();
    let rules = Rules {
        discounts: Vec::new(),
        coupons: vec![
            Coupon {
                number: "P5".into(),
                value: CouponValue::Percent(d("5")),
                multi_use: true,
                valid_from: None,
                valid_until: None,
            },
            Coupon {
                number: "F10".into(),
                value: CouponValue::Fixed(d("10")),
                multi_use: false,
                valid_from: None,
                valid_until: Some(now - chrono::Duration::days(1)),
            },
        ],
        ..Rules::default()
    };
    let c = cheque(vec![seed_line("100", "0", "100")]);
    let calc = calculate(&rules, &c, &["P5".into()], now).unwrap();
    assert_eq!(calc.total_amount, d("95"));
    assert_eq!(
        calculate(&rules, &c, &["F10".into()], now),
        Err(CalcError::CouponNotValid("F10".into()))
    );
    assert_eq!(
        calculate(&rules, &c, &["X".into()], now),
        Err(CalcError::UnknownCoupon("X".into()))
    );
}

fn arb_line(position: u32) -> impl Strategy<Value = Line> {
    (1u64..100_000, 1u32..5, 0u64..1_000, any::<bool>()).prop_map(
        move |(cents, qty, disc, load)| {
            let amount = Decimal::new(cents as i64, 2);
            Line {
                position,
                amount,
                goods_id: format!("g{position}"),
                barcode: if load {
                    CARD_LOAD_EAN.into()
                } else {
                    format!("b{position}")
                },
                quantity: Decimal::from(qty),
                discount: Decimal::new(disc as i64, 2),
                price: None,
                name: String::new(),
                group: String::new(),
            }
        },
    )
}

fn arb_cheque() -> impl Strategy<Value = Cheque> {
    (1usize..6)
        .prop_flat_map(|n| (0..n as u32).map(|p| arb_line(p + 1)).collect::<Vec<_>>())
        .prop_map(cheque)
}

fn sum(values: impl Iterator<Item = Decimal>) -> Decimal {
    values.fold(Decimal::ZERO, |a, b| a + b)
}

proptest! {
    /// Over random cheques, payments and refunds: the lines add up to the
    /// totals, the points paid and earned to what was asked and earned, and
    /// refunds in random steps give back exactly what each line had.
    #[test]
    fn no_kopeck_is_created_or_lost(
        c in arb_cheque(),
        share in 0u32..=100,
        steps in proptest::collection::vec((1u32..6, 1u32..3), 1..8),
    ) {
        let rules = Rules::default();
        let calc = calculate(&rules, &c, &[], Utc::now()).unwrap();
        prop_assert_eq!(sum(calc.lines.iter().map(|l| l.amount)), calc.total_amount);
        prop_assert!(calc.lines.iter().all(|l| l.amount >= Decimal::ZERO));
        prop_assert!(calc.lines.iter().all(|l| l.paid <= l.payable));

        let points = (calc.payable * Decimal::from(share) / Decimal::ONE_HUNDRED).round_dp(2);
        let mut paid = calc.clone();
        pay(&rules, &mut paid, points).unwrap();
        prop_assert_eq!(sum(paid.lines.iter().map(|l| l.paid)), points);
        prop_assert!(paid.lines.iter().all(|l| l.paid <= l.payable));

        let by_line: BTreeMap<u32, Decimal> =
            paid.lines.iter().map(|l| (l.position, l.paid)).collect();
        let discounted = Cheque {
            lines: c.lines.iter().zip(&calc.lines).map(|(l, r)| Line { amount: r.amount, ..l.clone() }).collect(),
            ..c.clone()
        };
        let mut bonus = Calculation::of(&rules, &discounted).unwrap();
        earn(&rules, &mut bonus, &discounted, &by_line).unwrap();
        prop_assert_eq!(sum(bonus.lines.iter().map(|l| l.earned)), bonus.earned);
        prop_assert!(bonus.earned >= Decimal::ZERO);

        let bought: Vec<PurchasedLine> = bonus.lines.iter().map(|l| PurchasedLine {
            position: l.position,
            quantity: l.quantity,
            amount: l.amount,
            paid: l.paid,
            earned: l.earned,
        }).collect();
        let mut before: BTreeMap<u32, Decimal> = BTreeMap::new();
        let mut back: BTreeMap<u32, (Decimal, Decimal, Decimal)> = BTreeMap::new();
        for (position, qty) in steps {
            match shares(&bought, &before, &[(position, Decimal::from(qty))]) {
                Ok(s) => for s in s {
                    *before.entry(s.position).or_default() += s.quantity;
                    let e = back.entry(s.position).or_default();
                    e.0 += s.money; e.1 += s.returned_points; e.2 += s.taken_back_points;
                },
                Err(RefundError::UnknownPosition(_) | RefundError::ExceedsLine { .. }) => {}
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
        // Then everything left.
        match shares(&bought, &before, &[]) {
            Ok(s) => for s in s {
                let e = back.entry(s.position).or_default();
                e.0 += s.money; e.1 += s.returned_points; e.2 += s.taken_back_points;
            },
            Err(RefundError::NothingLeft) => {}
            Err(e) => prop_assert!(false, "{e}"),
        }
        for l in &bought {
            let (money, returned, taken) = back.get(&l.position).copied().unwrap_or_default();
            prop_assert_eq!(money, l.amount);
            prop_assert_eq!(returned, l.paid);
            prop_assert_eq!(taken, l.earned);
        }
    }
}
