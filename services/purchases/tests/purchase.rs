//! Given a purchase's past steps, when a step arrives, then this event or
//! this refusal: the purchase's states, without I/O.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use kit::aggregate::given_when;
use purchases::domain::calc::Calculation;
use purchases::domain::purchase::{
    Command, Event, Payment, Pending, Purchase, PurchaseError, Record, RefundTotals, StepRef,
};
use rust_decimal::Decimal;

fn step(op: &str, member: &str) -> StepRef {
    StepRef {
        purchase_id: "P".into(),
        operation_id: op.into(),
        member_id: member.into(),
        ..StepRef::default()
    }
}

fn paid(op: &str) -> Command {
    Command {
        step: step(op, "m1"),
        record: Record::Paid {
            payment: Payment {
                points: Decimal::TEN,
                hold_id: "h".into(),
            },
            calc: Calculation::default(),
        },
    }
}

fn settle(op: &str, confirm: bool) -> Command {
    Command {
        step: step(op, ""),
        record: if confirm {
            Record::Confirmed {
                cheque_number: String::new(),
                calc: Calculation::default(),
                withdrawn: Decimal::TEN,
                accrued: Decimal::ONE,
                charged: Decimal::ZERO,
                gift_cards: Decimal::ZERO,
            }
        } else {
            Record::Cancelled {
                released: Decimal::TEN,
                dropped: Decimal::ZERO,
                gift_cards: Decimal::ZERO,
            }
        },
    }
}

fn events(commands: &[Command]) -> Vec<Event> {
    let mut history = Vec::new();
    for c in commands {
        history.extend(given_when::<Purchase>(&history, c).unwrap());
    }
    history
}

fn refund(op: &str) -> Command {
    Command {
        step: step(op, ""),
        record: Record::Refunded {
            lines: Vec::new(),
            totals: RefundTotals::default(),
        },
    }
}

#[test]
fn nothing_settles_a_purchase_that_has_no_step() {
    assert_eq!(
        given_when::<Purchase>(&[], &settle("c", true)),
        Err(PurchaseError::NotFound("P".into()))
    );
    assert_eq!(
        given_when::<Purchase>(&[], &refund("r")),
        Err(PurchaseError::NotConfirmed("P".into()))
    );
}

#[test]
fn a_settled_purchase_takes_no_step_but_a_refund_when_confirmed() {
    let confirmed = events(&[paid("p"), settle("c", true)]);
    assert_eq!(
        given_when::<Purchase>(&confirmed, &paid("p2")),
        Err(PurchaseError::Confirmed("P".into()))
    );
    assert_eq!(
        given_when::<Purchase>(&confirmed, &settle("x", false)),
        Err(PurchaseError::Confirmed("P".into()))
    );
    assert!(given_when::<Purchase>(&confirmed, &refund("r")).is_ok());
    let cancelled = events(&[paid("p"), settle("x", false)]);
    assert_eq!(
        given_when::<Purchase>(&cancelled, &settle("c", true)),
        Err(PurchaseError::Cancelled("P".into()))
    );
    assert_eq!(
        given_when::<Purchase>(&cancelled, &refund("r")),
        Err(PurchaseError::Cancelled("P".into()))
    );
}

#[test]
fn another_members_card_and_a_second_bonus_are_refused() {
    let history = events(&[paid("p")]);
    let mut other = paid("p2");
    other.step.member_id = "m2".into();
    assert_eq!(
        given_when::<Purchase>(&history, &other),
        Err(PurchaseError::OtherMember("P".into()))
    );
    let bonus = |op: &str| Command {
        step: step(op, "m1"),
        record: Record::BonusCalculated {
            cheque: Default::default(),
            calc: Calculation::default(),
            pending: Pending::default(),
        },
    };
    let history = events(&[paid("p"), bonus("b1")]);
    assert_eq!(
        given_when::<Purchase>(&history, &bonus("b2")),
        Err(PurchaseError::BonusExists("P".into()))
    );
}

#[test]
fn a_refusal_handed_in_is_the_decision() {
    let refused = Command {
        step: step("p", "m1"),
        record: Record::Refused(PurchaseError::CardNotFound("****1234".into())),
    };
    assert_eq!(
        given_when::<Purchase>(&[], &refused),
        Err(PurchaseError::CardNotFound("****1234".into()))
    );
}

#[test]
fn an_operation_to_cancel_must_be_one_the_open_purchase_recorded() {
    let state = |commands: &[Command]| kit::aggregate::replay::<Purchase>(&events(commands));
    let open = state(&[paid("p")]);
    assert_eq!(open.operations.iter().collect::<Vec<_>>(), ["p"]);
    assert_eq!(open.check_cancel_target("p"), Ok(()));
    assert_eq!(
        open.check_cancel_target("q"),
        Err(PurchaseError::OperationNotFound {
            purchase: "P".into(),
            operation: "q".into()
        })
    );
    // A purchase with no step, or a settled one, is refused by its status
    // as a whole cancel would be, not by the operation.
    assert_eq!(state(&[]).check_cancel_target("q"), Ok(()));
    let confirmed = state(&[paid("p"), settle("c", true)]);
    assert_eq!(confirmed.check_cancel_target("q"), Ok(()));
    assert!(confirmed.operations.contains("c"));
}
