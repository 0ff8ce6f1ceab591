//! The identity domain's events: what the aggregates decide and replay.
//! Plain Rust; `crate::events` stores and publishes each as the
//! `loyalty.identity.v1` message of the same name. Public events are
//! published; private ones (secrets' hashes, contacts, full card numbers)
//! stay in the log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::model::{Answer, CardKind, Channel, LoginKind, Step};

/// Declares the event structs and the [`Event`] enum over them.
macro_rules! events {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident { $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* $(,)? }
    )*) => {
        $(
            $(#[doc = $doc])*
            #[derive(Debug, Clone, PartialEq)]
            pub struct $name {
                $( $(#[doc = $fdoc])* pub $field: $ty, )*
            }
        )*

        /// Every event of the identity service.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $name($name),
            )*
        }
    };
}

events! {
    /// A registration began (public).
    RegistrationStarted {
        /// The member.
        member_id: String,
        /// Phone or card.
        login_kind: LoginKind,
        /// The login, masked.
        login_masked: String,
        /// When.
        started_at: DateTime<Utc>,
    }
    /// A registration step was done (public).
    StepCompleted {
        /// The member.
        member_id: String,
        /// The step.
        step: Step,
        /// When.
        completed_at: DateTime<Utc>,
    }
    /// A phone number was confirmed (public).
    PhoneConfirmed {
        /// The member.
        member_id: String,
        /// The phone, masked.
        phone_masked: String,
        /// When.
        confirmed_at: DateTime<Utc>,
    }
    /// An e-mail address was confirmed (public).
    EmailConfirmed {
        /// The member.
        member_id: String,
        /// The address, masked.
        email_masked: String,
        /// When.
        confirmed_at: DateTime<Utc>,
    }
    /// A physical card was bound to a member (public).
    CardBound {
        /// The member.
        member_id: String,
        /// The card, masked.
        card_masked: String,
        /// When.
        bound_at: DateTime<Utc>,
    }
    /// A virtual card was emitted for a member (public).
    VirtualCardEmitted {
        /// The member.
        member_id: String,
        /// The card, masked.
        card_masked: String,
        /// When.
        emitted_at: DateTime<Utc>,
    }
    /// A member got their first card (public).
    CardIssued {
        /// The member.
        member_id: String,
        /// The card, masked.
        card_masked: String,
        /// Physical or virtual.
        kind: CardKind,
        /// When.
        issued_at: DateTime<Utc>,
    }
    /// A registration was completed (public).
    RegistrationCompleted {
        /// The member.
        member_id: String,
        /// Phone or card.
        login_kind: LoginKind,
        /// When.
        completed_at: DateTime<Utc>,
    }
    /// A social account was linked (public).
    SocialAccountLinked {
        /// The member.
        member_id: String,
        /// The network.
        network: String,
        /// The user id there.
        external_user_id: String,
        /// When.
        linked_at: DateTime<Utc>,
    }
    /// A bank card was bound (public).
    BankCardBound {
        /// The member.
        member_id: String,
        /// The binding id.
        binding_id: String,
        /// Last 4 digits.
        last4: String,
        /// When.
        bound_at: DateTime<Utc>,
    }
    /// The mailing consent changed (public).
    ConsentChanged {
        /// The member.
        member_id: String,
        /// The consent now.
        mailing_consent: bool,
        /// When.
        changed_at: DateTime<Utc>,
    }
    /// Cards were added to the stock (public).
    CardsLoaded {
        /// How many.
        loaded: u64,
        /// When.
        loaded_at: DateTime<Utc>,
    }
    /// A card was blocked (public).
    CardBlocked {
        /// The card, masked.
        card_masked: String,
        /// Its member (empty: none).
        member_id: String,
        /// Why.
        reason: String,
        /// When.
        blocked_at: DateTime<Utc>,
    }
    /// A requested message was sent (public).
    MessageSent {
        /// The request.
        request_id: String,
        /// The member.
        member_id: String,
        /// SMS or e-mail.
        channel: Channel,
        /// The template.
        template_id: String,
        /// The recipient, masked.
        recipient_masked: String,
        /// When.
        sent_at: DateTime<Utc>,
    }
    /// A requested message failed for good (public).
    MessageFailed {
        /// The request.
        request_id: String,
        /// The member (empty: unknown).
        member_id: String,
        /// The channel (`None`: none or an unknown one requested).
        channel: Option<Channel>,
        /// The template.
        template_id: String,
        /// Why (`FailReason`).
        reason: String,
        /// Details (no body, no recipient).
        detail: String,
        /// When.
        failed_at: DateTime<Utc>,
    }
    /// A login was claimed by a member (private).
    LoginClaimed {
        /// The member.
        member_id: String,
        /// Phone or card.
        kind: LoginKind,
        /// The login.
        login: String,
    }
    /// A claim was let go (private).
    ClaimReleased {
        /// The member who held it.
        member_id: String,
    }
    /// A member stream was opened (private).
    MemberOpened {
        /// The member.
        member_id: String,
        /// Phone or card.
        login_kind: LoginKind,
        /// The login.
        login: String,
        /// When.
        opened_at: DateTime<Utc>,
    }
    /// A contact was entered (private).
    ContactEntered {
        /// SMS (phone) or e-mail.
        channel: Channel,
        /// The normalised contact.
        value: String,
    }
    /// A confirm code was sent (private).
    ConfirmCodeIssued {
        /// SMS or e-mail.
        channel: Channel,
        /// The code's MAC.
        code_mac: Vec<u8>,
        /// When sent.
        sent_at: DateTime<Utc>,
        /// When it expires.
        expires_at: DateTime<Utc>,
    }
    /// A wrong confirm code was entered (private).
    ConfirmCodeFailed {
        /// SMS or e-mail.
        channel: Channel,
        /// When.
        failed_at: DateTime<Utc>,
    }
    /// A contact was confirmed (private).
    ContactConfirmed {
        /// SMS or e-mail.
        channel: Channel,
        /// The contact.
        value: String,
    }
    /// The password was set (private).
    PasswordSet {
        /// argon2id PHC string.
        password_hash: String,
    }
    /// A wrong password was given (private).
    LoginFailed {
        /// When.
        failed_at: DateTime<Utc>,
    }
    /// A token was issued (private).
    TokenIssued {
        /// Its id.
        token_id: String,
        /// SHA-256 of its secret.
        secret_hash: Vec<u8>,
        /// Expiry.
        expires_at: DateTime<Utc>,
        /// The token it replaces (empty: none).
        replaces: String,
        /// May only re-confirm the phone.
        limited: bool,
        /// SHA-256 of its refresh token's secret (empty: none).
        refresh_hash: Vec<u8>,
        /// When the refresh token expires (`None`: no refresh token).
        refresh_expires_at: Option<DateTime<Utc>>,
        /// When it was issued (`None` in events recorded before this field).
        issued_at: Option<DateTime<Utc>>,
    }
    /// A token was revoked (private).
    TokenRevoked {
        /// Its id.
        token_id: String,
    }
    /// Questionnaire answers were saved (private).
    AnswersSaved {
        /// The answers.
        answers: Vec<Answer>,
        /// Answers by logical name.
        profile: BTreeMap<String, String>,
    }
    /// A card was listed on its member (private).
    MemberCardAdded {
        /// Full number.
        card_number: String,
        /// Physical or virtual.
        kind: CardKind,
    }
    /// A card was created (private).
    CardCreated {
        /// Full number.
        card_number: String,
        /// Physical or virtual.
        kind: CardKind,
    }
    /// A card was bound to a member on its stream (private).
    CardAssigned {
        /// The member.
        member_id: String,
    }
    /// A card was blocked on its stream (private).
    CardLocked {
        /// Why.
        reason: String,
    }
    /// A virtual number was handed out (private).
    VirtualNumberAllocated {
        /// The number.
        card_number: String,
        /// For whom.
        member_id: String,
    }
    /// A social account was claimed (private).
    SocialClaimed {
        /// The member.
        member_id: String,
    }
    /// A bank card was claimed (private).
    BankCardClaimed {
        /// The member.
        member_id: String,
        /// The binding id.
        binding_id: String,
        /// Last 4 digits.
        last4: String,
    }
    /// A template was defined (private).
    TemplateDefined {
        /// Its id.
        template_id: String,
        /// SMS or e-mail.
        channel: Channel,
        /// Subject.
        subject: String,
        /// Body.
        body: String,
    }
}
