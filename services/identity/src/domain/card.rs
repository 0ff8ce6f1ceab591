//! Cards (stream `card/<number>`), the virtual-card number allocator
//! (stream `virtual-cards`) and claims — a login, a social account or a bank
//! card taken by one member (streams `login/...`, `social/...`,
//! `bankcard/...`). Each claim stream is the lock that keeps the thing unique.

use super::event::{self as ev, Event};
use super::model::{CardKind, CardState};
use kit::aggregate::Aggregate;

/// Why a card command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// Not in the stock.
    #[error("unknown card")]
    Unknown,
    /// Bound to another member.
    #[error("the card belongs to another member")]
    TakenByOther,
    /// Blocked.
    #[error("the card is blocked")]
    Blocked,
    /// The card already exists.
    #[error("the card already exists")]
    Exists,
    /// The virtual range is used up.
    #[error("the virtual card range is used up")]
    RangeExhausted,
}

/// Commands on a card.
#[derive(Debug, Clone)]
pub enum CardCommand {
    /// Adds a physical card to the stock (no-op if known).
    Stock {
        /// Full number.
        number: String,
    },
    /// Creates a virtual card for a member (number from the allocator).
    CreateVirtual {
        /// Full number.
        number: String,
        /// Owner.
        member_id: String,
    },
    /// Binds a stock card to a member (no-op if already theirs).
    Assign {
        /// The member.
        member_id: String,
    },
    /// Blocks the card.
    Block {
        /// Why.
        reason: String,
        /// The number, masked (for the public event).
        masked: String,
        /// When.
        now: chrono::DateTime<chrono::Utc>,
    },
}

/// A card's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Card {
    /// Full number (empty: unknown card).
    pub number: String,
    /// Physical or virtual.
    pub kind: CardKind,
    /// Owner.
    pub member_id: Option<String>,
    /// Blocked.
    pub blocked: bool,
}

impl Card {
    /// The card's state.
    pub fn state(&self) -> CardState {
        if self.blocked {
            CardState::Blocked
        } else if self.member_id.is_some() {
            CardState::Bound
        } else {
            CardState::InStock
        }
    }
}

/// The card stock's stream: one summary event per load (`CardsLoaded`).
pub const CARD_STOCK_STREAM: &str = "card-stock";

/// The stream of a card.
pub fn card_stream(number: &str) -> String {
    format!("card/{number}")
}

impl Aggregate for Card {
    type Command = CardCommand;
    type Event = Event;
    type Error = CardError;

    fn decide(&self, command: &CardCommand) -> Result<Vec<Event>, CardError> {
        match command {
            CardCommand::Stock { number } => Ok(if self.number.is_empty() {
                vec![Event::CardCreated(ev::CardCreated {
                    card_number: number.clone(),
                    kind: CardKind::Physical,
                })]
            } else {
                Vec::new()
            }),
            CardCommand::CreateVirtual { number, member_id } => {
                if !self.number.is_empty() {
                    return Err(CardError::Exists);
                }
                Ok(vec![
                    Event::CardCreated(ev::CardCreated {
                        card_number: number.clone(),
                        kind: CardKind::Virtual,
                    }),
                    Event::CardAssigned(ev::CardAssigned {
                        member_id: member_id.clone(),
                    }),
                ])
            }
            CardCommand::Assign { member_id } => {
                if self.number.is_empty() {
                    return Err(CardError::Unknown);
                }
                if self.blocked {
                    return Err(CardError::Blocked);
                }
                match &self.member_id {
                    Some(m) if m == member_id => Ok(Vec::new()),
                    Some(_) => Err(CardError::TakenByOther),
                    None => Ok(vec![Event::CardAssigned(ev::CardAssigned {
                        member_id: member_id.clone(),
                    })]),
                }
            }
            CardCommand::Block {
                reason,
                masked,
                now,
            } => {
                if self.number.is_empty() {
                    return Err(CardError::Unknown);
                }
                Ok(if self.blocked {
                    Vec::new()
                } else {
                    vec![
                        Event::CardLocked(ev::CardLocked {
                            reason: reason.clone(),
                        }),
                        Event::CardBlocked(ev::CardBlocked {
                            card_masked: masked.clone(),
                            member_id: self.member_id.clone().unwrap_or_default(),
                            reason: reason.clone(),
                            blocked_at: *now,
                        }),
                    ]
                })
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::CardCreated(e) => {
                self.number = e.card_number.clone();
                self.kind = e.kind;
            }
            Event::CardAssigned(e) => self.member_id = Some(e.member_id.clone()),
            Event::CardLocked(_) => self.blocked = true,
            _ => {}
        }
    }
}

/// The virtual-card number allocator: numbers `first..=last` in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualRange {
    /// Numbers handed out so far.
    pub allocated: u64,
}

/// Allocate the next virtual number in `first..=last` (width digits).
#[derive(Debug, Clone)]
pub struct Allocate {
    /// First number of the range.
    pub first: u64,
    /// Last number of the range.
    pub last: u64,
    /// Digits in a number.
    pub width: usize,
    /// For whom.
    pub member_id: String,
}

/// The allocator's stream.
pub const VIRTUAL_STREAM: &str = "virtual-cards";

impl Aggregate for VirtualRange {
    type Command = Allocate;
    type Event = Event;
    type Error = CardError;

    fn decide(&self, c: &Allocate) -> Result<Vec<Event>, CardError> {
        let next = c.first + self.allocated;
        if next > c.last {
            return Err(CardError::RangeExhausted);
        }
        Ok(vec![Event::VirtualNumberAllocated(
            ev::VirtualNumberAllocated {
                card_number: format!("{next:0width$}", width = c.width),
                member_id: c.member_id.clone(),
            },
        )])
    }

    fn apply(&mut self, event: &Event) {
        if let Event::VirtualNumberAllocated(_) = event {
            self.allocated += 1;
        }
    }
}

/// A claim on something unique (a login, a social account, a bank card).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// The member holding it.
    pub member_id: Option<String>,
    /// Binding id (bank cards).
    pub binding_id: String,
    /// Last 4 digits (bank cards).
    pub last4: String,
}

/// Claim for a member: the claim event to record if still free.
#[derive(Debug, Clone)]
pub struct Take {
    /// The member.
    pub member_id: String,
    /// The event recording the claim.
    pub event: Event,
}

/// Why a claim was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("already taken by another member")]
pub struct Taken {
    /// The holder.
    pub holder: String,
}

/// Commands on a claim.
#[derive(Debug, Clone)]
pub enum ClaimCommand {
    /// Take it (no-op if the member holds it already).
    Take(Take),
    /// Let it go (no-op unless this member holds it), e.g. the old phone
    /// login once a new phone is confirmed.
    Release {
        /// The member letting go.
        member_id: String,
    },
}

impl From<Take> for ClaimCommand {
    fn from(t: Take) -> Self {
        ClaimCommand::Take(t)
    }
}

impl Aggregate for Claim {
    type Command = ClaimCommand;
    type Event = Event;
    type Error = Taken;

    fn decide(&self, c: &ClaimCommand) -> Result<Vec<Event>, Taken> {
        match c {
            ClaimCommand::Take(c) => match &self.member_id {
                Some(m) if *m == c.member_id => Ok(Vec::new()),
                Some(m) => Err(Taken { holder: m.clone() }),
                None => Ok(vec![c.event.clone()]),
            },
            ClaimCommand::Release { member_id } => Ok(match &self.member_id {
                Some(m) if m == member_id => vec![Event::ClaimReleased(ev::ClaimReleased {
                    member_id: member_id.clone(),
                })],
                _ => Vec::new(),
            }),
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::LoginClaimed(e) => self.member_id = Some(e.member_id.clone()),
            Event::SocialClaimed(e) => self.member_id = Some(e.member_id.clone()),
            Event::BankCardClaimed(e) => {
                self.member_id = Some(e.member_id.clone());
                self.binding_id = e.binding_id.clone();
                self.last4 = e.last4.clone();
            }
            Event::ClaimReleased(_) => *self = Claim::default(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::aggregate::given_when;

    fn stocked() -> Event {
        Event::CardCreated(ev::CardCreated {
            card_number: "9116580844911085".into(),
            kind: CardKind::Physical,
        })
    }

    #[test]
    fn a_card_binds_once_to_one_member() {
        let assign = |m: &str| CardCommand::Assign {
            member_id: m.into(),
        };
        let events = given_when::<Card>(&[stocked()], &assign("a")).unwrap();
        assert_eq!(events.len(), 1);
        let bound = [stocked(), events[0].clone()];
        assert_eq!(given_when::<Card>(&bound, &assign("a")).unwrap(), vec![]);
        assert_eq!(
            given_when::<Card>(&bound, &assign("b")),
            Err(CardError::TakenByOther)
        );
        assert_eq!(
            given_when::<Card>(&[], &assign("a")),
            Err(CardError::Unknown)
        );
        let blocked = [
            stocked(),
            Event::CardLocked(ev::CardLocked {
                reason: "lost".into(),
            }),
        ];
        assert_eq!(
            given_when::<Card>(&blocked, &assign("a")),
            Err(CardError::Blocked)
        );
    }

    #[test]
    fn a_claim_is_released_only_by_its_holder_and_can_then_be_taken_again() {
        let take = |m: &str| {
            ClaimCommand::Take(Take {
                member_id: m.into(),
                event: Event::LoginClaimed(ev::LoginClaimed {
                    member_id: m.into(),
                    kind: crate::domain::model::LoginKind::Phone,
                    login: "79990000001".into(),
                }),
            })
        };
        let release = |m: &str| ClaimCommand::Release {
            member_id: m.into(),
        };
        let held = given_when::<Claim>(&[], &take("a")).unwrap();
        assert_eq!(given_when::<Claim>(&held, &release("b")).unwrap(), vec![]);
        let released = given_when::<Claim>(&held, &release("a")).unwrap();
        assert!(matches!(released.as_slice(), [Event::ClaimReleased(_)]));
        let history = [held[0].clone(), released[0].clone()];
        assert_eq!(
            given_when::<Claim>(&history, &release("a")).unwrap(),
            vec![]
        );
        assert_eq!(given_when::<Claim>(&history, &take("b")).unwrap().len(), 1);
    }

    #[test]
    fn the_virtual_range_hands_out_each_number_once_and_ends() {
        let alloc = Allocate {
            first: 7,
            last: 8,
            width: 6,
            member_id: "m".into(),
        };
        let e1 = given_when::<VirtualRange>(&[], &alloc).unwrap();
        let Event::VirtualNumberAllocated(n) = &e1[0] else {
            panic!()
        };
        assert_eq!(n.card_number, "000007");
        let e2 = given_when::<VirtualRange>(&e1, &alloc).unwrap();
        let both = [e1[0].clone(), e2[0].clone()];
        assert_eq!(
            given_when::<VirtualRange>(&both, &alloc),
            Err(CardError::RangeExhausted)
        );
    }
}
