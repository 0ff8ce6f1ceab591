//! What the member aggregate is asked to do, and how it refuses.

use crate::domain::model::{CardKind, Channel, LoginKind, Step};
use chrono::{DateTime, Duration, Utc};

use crate::domain::questionnaire::Accepted;
use crate::domain::values::{Email, Phone};

/// Wrong confirm codes allowed per code; the next attempt is refused even
/// with the right code.
pub const MAX_CODE_FAILURES: u32 = 5;
/// Active tokens kept per member (older sessions are dropped).
pub const MAX_TOKENS: usize = 10;

/// Limits on sending codes and on logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Minimum time between two codes to one contact.
    pub resend_cooldown: Duration,
    /// Codes per channel (SMS, e-mail) per 24 hours, whatever the contact.
    pub daily_codes: usize,
    /// Wrong passwords allowed within `login_window`.
    pub login_failures: usize,
    /// The window (and lock time) for wrong passwords.
    pub login_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            resend_cooldown: Duration::seconds(60),
            daily_codes: 10,
            login_failures: 5,
            login_window: Duration::minutes(15),
        }
    }
}

/// A confirm code to record (its MAC, never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// HMAC of the code bound to member, channel and contact.
    pub mac: Vec<u8>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// A token to record (the SHA-256 of its secret, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Public id.
    pub token_id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The token it replaces (rotation).
    pub replaces: Option<String>,
    /// May only re-confirm the phone.
    pub limited: bool,
    /// Its refresh token, if it has one.
    pub refresh: Option<NewRefresh>,
    /// Now.
    pub issued_at: DateTime<Utc>,
}

/// A refresh token to record with its token: recorded as it is kept (the
/// SHA-256 of its secret, and its expiry).
pub type NewRefresh = super::Refresh;

/// A contact entered to be confirmed: a parsed phone number or e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewContact {
    /// A phone number (confirmed by SMS).
    Phone(Phone),
    /// An e-mail address.
    Email(Email),
}

impl NewContact {
    /// The channel its codes go by.
    pub fn channel(&self) -> Channel {
        match self {
            NewContact::Phone(_) => Channel::Sms,
            NewContact::Email(_) => Channel::Email,
        }
    }

    /// The normalised contact.
    pub fn as_str(&self) -> &str {
        match self {
            NewContact::Phone(p) => p.as_str(),
            NewContact::Email(e) => e.as_str(),
        }
    }
}

/// Commands on a member.
#[derive(Debug, Clone)]
pub enum Command {
    /// Opens a registration for a login.
    Open {
        /// New member id.
        member_id: String,
        /// Phone or card.
        kind: LoginKind,
        /// The normalised login.
        login: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Issues (or rotates) a token.
    IssueToken(NewToken),
    /// Revokes a token.
    RevokeToken(String),
    /// Accepts the offer.
    Accept(DateTime<Utc>),
    /// Enters a contact and records the code sent to it.
    EnterContact {
        /// The phone or e-mail (its channel: SMS or e-mail).
        contact: NewContact,
        /// The code sent.
        code: NewCode,
        /// Now.
        now: DateTime<Utc>,
        /// Send limits.
        limits: Limits,
    },
    /// Records a new code for the contact awaiting confirmation (or, to
    /// re-verify a continued registration, for the confirmed phone).
    Resend {
        /// SMS or e-mail.
        channel: Channel,
        /// The code sent.
        code: NewCode,
        /// Now.
        now: DateTime<Utc>,
        /// Send limits.
        limits: Limits,
    },
    /// Checks a code; rotates the token on success.
    Confirm {
        /// SMS or e-mail.
        channel: Channel,
        /// HMAC of the code entered, computed like the sent one's.
        mac: Vec<u8>,
        /// Now.
        now: DateTime<Utc>,
        /// The token replacing the caller's (SMS only).
        rotate: Option<NewToken>,
    },
    /// Sets the password; rotates the token.
    SetPassword {
        /// argon2id PHC string.
        hash: String,
        /// Now.
        now: DateTime<Utc>,
        /// The token replacing the caller's.
        rotate: NewToken,
    },
    /// Saves validated answers.
    SaveAnswers(Accepted, DateTime<Utc>),
    /// Attaches a card (already assigned to this member on its own stream).
    AddCard {
        /// Full number.
        number: String,
        /// Physical or virtual.
        kind: CardKind,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Completes the registration.
    Finish {
        /// Steps that must be done.
        required: Vec<Step>,
        /// Now.
        now: DateTime<Utc>,
        /// The token replacing the caller's.
        rotate: NewToken,
    },
    /// Records a wrong password.
    FailLogin(DateTime<Utc>),
    /// Records the mailing consent.
    SetConsent(bool, DateTime<Utc>),
    /// Links a social account (already claimed on its own stream).
    LinkSocial {
        /// Network.
        network: String,
        /// User id there.
        external_user_id: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Records a bank card binding (already claimed on its own stream).
    AddBankCard {
        /// Binding id.
        binding_id: String,
        /// Last 4 digits.
        last4: String,
        /// Now.
        now: DateTime<Utc>,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    /// No such member.
    #[error("no such member")]
    NotOpen,
    /// The member stream already exists.
    #[error("member already exists")]
    AlreadyOpen,
    /// The step was completed before (the seed's protocol error).
    #[error("step {} is already done", .0.name())]
    StepAlreadyDone(Step),
    /// A required step is still open.
    #[error("step {} is required first", .0.name())]
    StepRequired(Step),
    /// The registration is complete.
    #[error("the registration is already completed")]
    AlreadyRegistered,
    /// Nothing awaits confirmation on the channel.
    #[error("nothing awaits confirmation")]
    NothingToConfirm,
    /// The code expired.
    #[error("the confirm code has expired")]
    CodeExpired,
    /// Too many wrong codes: a new code is needed.
    #[error("too many wrong confirm codes; request a new code")]
    CodeLocked,
    /// A code was sent too recently.
    #[error("a code was sent recently; retry in {retry_after_secs} s")]
    ResendCooldown {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
    /// The daily number of codes is used up.
    #[error("the daily limit of codes is reached; retry in {retry_after_secs} s")]
    DailyLimit {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
    /// The token being rotated is no longer active.
    #[error("the token is no longer valid")]
    TokenInvalid,
    /// Too many wrong passwords.
    #[error("too many wrong passwords; retry in {retry_after_secs} s")]
    LoginLocked {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
}

/// What a confirm attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The contact is confirmed.
    Confirmed,
    /// The phone was re-verified (a continued registration).
    Reverified,
    /// Wrong code; attempts left before the code locks.
    Wrong {
        /// Attempts left.
        remaining: u32,
    },
}
