//! The identity service's use cases: each registration step, tokens, cards
//! and links, run against the aggregates through the kit's repositories.
//! Operations that touch two streams (a card and its member, a claim and its
//! member) write the claim first and are safe to retry: a claim already held
//! by the same member is a no-op.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kit::aggregate::{Aggregate, Executed, Repository};
use kit::log::{EventLog, Metadata};
use loyalty_proto::identity::v1::{self as pb, CardKind, Channel, LoginKind};
use subtle::ConstantTimeEq;

use crate::domain::card::{
    Allocate, Card, CardCommand, Claim, Take, VIRTUAL_STREAM, VirtualRange, card_stream,
};
use crate::domain::member::{Command, ConfirmOutcome, Limits, Member, NewCode, NewToken};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::steps::Policy;
use crate::domain::values::{CardNumber, Email, Phone};
use crate::error::{ApiError, violation};
use crate::events::Event;
use crate::secrets::{self, Secrets};

/// The clock (tests pass a fixed one).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Settings of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The registration steps.
    pub policy: Policy,
    /// The questionnaire.
    pub questionnaire: Questionnaire,
    /// Send and login limits.
    pub limits: Limits,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Confirm code lifetime.
    pub code_ttl: Duration,
    /// Virtual range: first, last, digits.
    pub virtual_range: (u64, u64, usize),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Session {
    /// The member.
    pub member_id: String,
    /// The token's id.
    pub token_id: String,
    /// May only re-confirm the phone.
    pub limited: bool,
    /// The member's state when authenticated.
    pub member: Member,
    /// The token's expiry.
    pub expires_at: DateTime<Utc>,
}

/// The identity use cases.
pub struct Identity {
    pub(crate) members: Repository<Member>,
    pub(crate) cards: Repository<Card>,
    range: Repository<VirtualRange>,
    pub(crate) claims: Repository<Claim>,
    pub(crate) secrets: Secrets,
    notifier: Arc<notify::Notifier>,
    pub(crate) settings: Settings,
    pub(crate) clock: Clock,
    /// Serialises virtual-card emissions so the one-virtual-card rule is
    /// checked on the member's current state, not a session's snapshot (the
    /// allocator is one stream anyway; the log has one writer process).
    emit_lock: tokio::sync::Mutex<()>,
}

/// The stream of a member.
pub fn member_stream(id: &str) -> String {
    format!("member/{id}")
}

/// The stream of a login claim.
pub fn login_stream(kind: LoginKind, login: &str) -> String {
    let k = if kind == LoginKind::Card {
        "card"
    } else {
        "phone"
    };
    format!("login/{k}/{login}")
}

fn metadata() -> Metadata {
    Metadata {
        correlation_id: None,
        causation_id: None,
        traceparent: kit::telemetry::current_traceparent(),
    }
}

fn events_of(executed: &Executed) -> Vec<Event> {
    match executed {
        Executed::Applied { events, .. } => events
            .iter()
            .filter_map(|r| {
                <Event as kit::aggregate::DomainEvent>::decode(&r.event_type, &r.payload).ok()
            })
            .collect(),
        Executed::Repeated { .. } => Vec::new(),
    }
}

impl Identity {
    /// The use cases over one event log.
    pub fn new(
        log: Arc<EventLog>,
        secrets: Secrets,
        notifier: Arc<notify::Notifier>,
        settings: Settings,
        clock: Clock,
    ) -> Self {
        Self {
            members: Repository::new(Arc::clone(&log)),
            cards: Repository::new(Arc::clone(&log)),
            range: Repository::new(Arc::clone(&log)),
            claims: Repository::new(log),
            secrets,
            notifier,
            settings,
            clock,
            emit_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub(crate) async fn run<A>(
        &self,
        repo: &Repository<A>,
        stream: &str,
        c: &A::Command,
    ) -> Result<Executed, kit::aggregate::RepositoryError<A::Error>>
    where
        A: Aggregate,
    {
        repo.execute(stream, c, None, metadata(), |_, _| Vec::new())
            .await
    }

    /// The member's current state.
    pub fn member(&self, member_id: &str) -> Result<Member, ApiError> {
        let (m, _) = self
            .members
            .load(&member_stream(member_id))
            .map_err(ApiError::from)?;
        if m.id.is_empty() {
            return Err(ApiError::NotFound("member"));
        }
        Ok(m)
    }

    /// Checks a token: its member, that it is active, unexpired and matches.
    pub fn authenticate(&self, token: &str) -> Result<Session, ApiError> {
        let (token_id, member_id, hash) =
            secrets::parse_token(token).ok_or(ApiError::Unauthenticated("malformed token"))?;
        let member = self
            .member(&member_id)
            .map_err(|_| ApiError::Unauthenticated("unknown token"))?;
        let t = member
            .tokens
            .get(&token_id)
            .ok_or(ApiError::Unauthenticated("revoked or rotated token"))?;
        if !bool::from(t.secret_hash.as_slice().ct_eq(&hash)) {
            return Err(ApiError::Unauthenticated("unknown token"));
        }
        if t.expires_at <= self.now() {
            return Err(ApiError::Unauthenticated("expired token"));
        }
        Ok(Session {
            member_id,
            token_id,
            limited: t.limited,
            expires_at: t.expires_at,
            member,
        })
    }

    fn new_token(
        &self,
        member: &Member,
        replaces: Option<&str>,
        limited: bool,
    ) -> (String, NewToken) {
        let issued = secrets::new_token(&member.id, member.tokens_issued + 1);
        let t = NewToken {
            token_id: issued.token_id,
            secret_hash: issued.secret_hash,
            expires_at: self.now() + self.settings.token_ttl,
            replaces: replaces.map(str::to_owned),
            limited,
        };
        (issued.token, t)
    }

    async fn issue_token(&self, member: &Member, limited: bool) -> Result<String, ApiError> {
        let (token, t) = self.new_token(member, None, limited);
        self.run(
            &self.members,
            &member_stream(&member.id),
            &Command::IssueToken(t),
        )
        .await?;
        Ok(token)
    }

    /// Revokes a token (idempotent).
    pub async fn revoke(&self, token: &str) -> Result<(), ApiError> {
        let Some((token_id, member_id, _)) = secrets::parse_token(token) else {
            return Ok(());
        };
        if self.member(&member_id).is_err() {
            return Ok(());
        }
        self.run(
            &self.members,
            &member_stream(&member_id),
            &Command::RevokeToken(token_id),
        )
        .await?;
        Ok(())
    }

    /// Parses a login: a known card number, else a phone number.
    fn parse_login(&self, login: &str) -> Result<(LoginKind, String), ApiError> {
        if let Ok(card) = CardNumber::parse(login) {
            let (c, _) = self.cards.load(&card_stream(card.as_str()))?;
            if !c.number.is_empty() {
                if !self.settings.policy.provider_card {
                    return Err(ApiError::Disabled("registration by card is switched off"));
                }
                return Ok((LoginKind::Card, card.as_str().to_owned()));
            }
        }
        let phone = Phone::parse(login).map_err(|e| {
            violation(
                "login",
                format!("not a known card number nor a phone number: {e}"),
            )
        })?;
        if !self.settings.policy.provider_phone {
            return Err(ApiError::Disabled("registration by phone is switched off"));
        }
        Ok((LoginKind::Phone, phone.as_str().to_owned()))
    }

    /// `BeginRegistration`: starts, continues, or logs in.
    pub async fn begin(
        &self,
        login: &str,
        password: &str,
    ) -> Result<pb::BeginRegistrationResponse, ApiError> {
        let (kind, login) = self.parse_login(login)?;
        let claim_stream = login_stream(kind, &login);
        let (claim, _) = self.claims.load(&claim_stream)?;
        let card = if kind == LoginKind::Card {
            let (card, _) = self.cards.load(&card_stream(&login))?;
            if card.blocked {
                return Err(crate::domain::card::CardError::Blocked.into());
            }
            Some(card)
        } else {
            None
        };
        let member_id = match (claim.member_id, card.and_then(|c| c.member_id)) {
            (Some(id), _) => id,
            // A card bound to a member (Cards/Set, a virtual card) logs into
            // that member; it never opens a second registration.
            (None, Some(owner)) => owner,
            (None, None) => return self.open(kind, &login, &claim_stream).await,
        };
        let member = match self.member(&member_id) {
            Ok(member) => member,
            // Claimed but not opened: a concurrent BeginRegistration is
            // opening it, or one crashed in between. Open it (idempotent).
            Err(ApiError::NotFound(_)) => {
                self.open_member(&member_id, kind, &login).await?;
                self.member(&member_id)?
            }
            Err(e) => return Err(e),
        };
        let now = self.now();
        member.login_allowed(now, self.settings.limits)?;
        let answer = |state: pb::BeginRegistrationState, token: String, message: &str| {
            pb::BeginRegistrationResponse {
                state: state as i32,
                error_message: message.to_owned(),
                auth_token: token,
                member_id: member.id.clone(),
                registration_completed: member.registered,
            }
        };
        let required = pb::BeginRegistrationState::PasswordRequired;
        match &member.password_hash {
            Some(_) if password.is_empty() => {
                Ok(answer(required, String::new(), "Требуется пароль."))
            }
            Some(hash) => {
                let (hash, pw) = (hash.clone(), password.to_owned());
                let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&hash, &pw))
                    .await
                    .map_err(anyhow::Error::from)?;
                if !ok {
                    self.run(
                        &self.members,
                        &member_stream(&member.id),
                        &Command::FailLogin(now),
                    )
                    .await?;
                    if member.registered {
                        return Err(ApiError::BadCredentials);
                    }
                    return Ok(answer(required, String::new(), "Неверный пароль."));
                }
                let token = self.issue_token(&member, false).await?;
                Ok(answer(pb::BeginRegistrationState::Success, token, ""))
            }
            None if member.registered => Err(ApiError::BadCredentials),
            None => {
                // Continued without a password: if the phone was confirmed,
                // whoever continues must prove they hold it again.
                let reverify = member.phone.confirmed.is_some();
                let token = self.issue_token(&member, reverify).await?;
                if reverify {
                    // Within the cooldown the code sent earlier stays valid.
                    match self.resend_code(&member, Channel::Sms).await {
                        Ok(()) | Err(ApiError::Member(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(answer(pb::BeginRegistrationState::Success, token, ""))
            }
        }
    }

    async fn open(
        &self,
        kind: LoginKind,
        login: &str,
        claim_stream: &str,
    ) -> Result<pb::BeginRegistrationResponse, ApiError> {
        let member_id = uuid::Uuid::now_v7().to_string();
        let take = Take {
            member_id: member_id.clone(),
            event: Event::LoginClaimed(pb::LoginClaimed {
                member_id: member_id.clone(),
                kind: kind as i32,
                login: login.to_owned(),
            }),
        };
        match self.run(&self.claims, claim_stream, &take).await {
            Ok(_) => {}
            // Someone registered the same login at the same moment: continue theirs.
            Err(kit::aggregate::RepositoryError::Domain(_)) => {
                return Box::pin(self.begin(login, "")).await;
            }
            Err(e) => return Err(e.into()),
        }
        self.open_member(&member_id, kind, login).await?;
        let member = self.member(&member_id)?;
        let token = self.issue_token(&member, false).await?;
        if kind == LoginKind::Phone {
            // The seed: the answer to BeginRegistration comes with a code sent.
            self.enter_contact(&member, Channel::Sms, login).await?;
        }
        Ok(pb::BeginRegistrationResponse {
            state: pb::BeginRegistrationState::Success as i32,
            error_message: String::new(),
            auth_token: token,
            member_id,
            registration_completed: false,
        })
    }

    /// Opens the member of a claimed login, and binds the login card; safe to
    /// repeat (the member may be open already, the card bound already).
    async fn open_member(
        &self,
        member_id: &str,
        kind: LoginKind,
        login: &str,
    ) -> Result<(), ApiError> {
        let open = Command::Open {
            member_id: member_id.to_owned(),
            kind,
            login: login.to_owned(),
            now: self.now(),
        };
        match self
            .run(&self.members, &member_stream(member_id), &open)
            .await
        {
            Ok(_)
            | Err(kit::aggregate::RepositoryError::Domain(
                crate::domain::member::MemberError::AlreadyOpen,
            )) => {}
            Err(e) => return Err(e.into()),
        }
        if kind == LoginKind::Card {
            self.attach_card(member_id, login, CardKind::Physical)
                .await?;
        }
        Ok(())
    }

    fn new_code(&self, member_id: &str, channel: Channel, contact: &str) -> (String, NewCode) {
        let code = self.secrets.new_code();
        let mac = self
            .secrets
            .code_mac(member_id, channel as i32, contact, &code);
        (
            code,
            NewCode {
                mac,
                expires_at: self.now() + self.settings.code_ttl,
            },
        )
    }

    async fn deliver(
        &self,
        member_id: &str,
        channel: Channel,
        to: &str,
        code: &str,
    ) -> Result<(), ApiError> {
        let id = uuid::Uuid::now_v7().to_string();
        let text = format!("Код подтверждения: {code}");
        let message = if channel == Channel::Email {
            notify::Message::email(&id, to, "Код подтверждения", text, "confirm-code/email")
        } else {
            notify::Message::sms(&id, to, text, "confirm-code/phone")
        };
        if let Err(error) = self.notifier.send(&message).await {
            tracing::warn!(%member_id, message_id = %id, %error, "confirm code not delivered");
            return Err(ApiError::Delivery);
        }
        tracing::info!(%member_id, message_id = %id, to = %notify::mask_recipient(to), "confirm code sent");
        Ok(())
    }

    /// Enters a contact (phone digits or e-mail) and sends it a code.
    pub async fn enter_contact(
        &self,
        member: &Member,
        channel: Channel,
        value: &str,
    ) -> Result<(), ApiError> {
        let (code, new) = self.new_code(&member.id, channel, value);
        let c = Command::EnterContact {
            channel,
            value: value.to_owned(),
            code: new,
            now: self.now(),
            limits: self.settings.limits,
        };
        self.run(&self.members, &member_stream(&member.id), &c)
            .await?;
        self.deliver(&member.id, channel, value, &code).await
    }

    /// Sends a new code to the contact awaiting confirmation.
    pub async fn resend_code(&self, member: &Member, channel: Channel) -> Result<(), ApiError> {
        let target = member
            .contact(channel)
            .target()
            .ok_or(crate::domain::member::MemberError::NothingToConfirm)?
            .to_owned();
        let (code, new) = self.new_code(&member.id, channel, &target);
        let c = Command::Resend {
            channel,
            code: new,
            now: self.now(),
            limits: self.settings.limits,
        };
        self.run(&self.members, &member_stream(&member.id), &c)
            .await?;
        self.deliver(&member.id, channel, &target, &code).await
    }

    /// Parses and enters a phone number.
    pub async fn set_phone(&self, s: &Session, raw: &str) -> Result<(), ApiError> {
        let phone = Phone::parse(raw).map_err(|e| violation("phone_number", e.description))?;
        self.check_phone_free(&s.member_id, phone.as_str())?;
        self.enter_contact(&s.member, Channel::Sms, phone.as_str())
            .await
    }

    /// Refuses a phone number that is another member's login.
    fn check_phone_free(&self, member_id: &str, phone: &str) -> Result<(), ApiError> {
        let (claim, _) = self.claims.load(&login_stream(LoginKind::Phone, phone))?;
        match claim.member_id {
            Some(holder) if holder != member_id => Err(ApiError::Taken("the phone number")),
            _ => Ok(()),
        }
    }

    /// Makes a confirmed phone number the member's login (a no-op when it
    /// already is, e.g. the phone the registration began with).
    async fn claim_phone(&self, member_id: &str, phone: &str) -> Result<(), ApiError> {
        let take = Take {
            member_id: member_id.to_owned(),
            event: Event::LoginClaimed(pb::LoginClaimed {
                member_id: member_id.to_owned(),
                kind: LoginKind::Phone as i32,
                login: phone.to_owned(),
            }),
        };
        match self
            .run(&self.claims, &login_stream(LoginKind::Phone, phone), &take)
            .await
        {
            Ok(_) => Ok(()),
            Err(kit::aggregate::RepositoryError::Domain(_)) => {
                Err(ApiError::Taken("the phone number"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Parses and enters an e-mail address.
    pub async fn set_email(&self, s: &Session, raw: &str) -> Result<(), ApiError> {
        let email = Email::parse(raw).map_err(|e| violation("email", e.description))?;
        self.enter_contact(&s.member, Channel::Email, email.as_str())
            .await
    }

    /// Checks a confirm code; for SMS returns the rotated token.
    pub async fn confirm(
        &self,
        s: &Session,
        channel: Channel,
        code: &str,
    ) -> Result<Option<String>, ApiError> {
        let code = code.trim();
        if code.len() != secrets::CODE_LENGTH as usize || !code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(violation("confirm_code", "a confirm code has 6 digits"));
        }
        let target = s
            .member
            .contact(channel)
            .target()
            .unwrap_or_default()
            .to_owned();
        if channel == Channel::Sms && !target.is_empty() {
            self.check_phone_free(&s.member_id, &target)?;
        }
        let mac = self
            .secrets
            .code_mac(&s.member_id, channel as i32, &target, code);
        let rotation =
            (channel == Channel::Sms).then(|| self.new_token(&s.member, Some(&s.token_id), false));
        let now = self.now();
        let rotate = rotation.as_ref().map(|(_, t)| t.clone());
        let (_, outcome) = self
            .members
            .execute_with(
                &member_stream(&s.member_id),
                |m: &Member| m.confirm(channel, &mac, now, rotate.as_ref()),
                None,
                metadata(),
                |_, _| Vec::new(),
            )
            .await?;
        match outcome {
            Some(ConfirmOutcome::Wrong { remaining }) => {
                Err(ApiError::Invalid(vec![tonic_types::FieldViolation::new(
                    "confirm_code",
                    format!("wrong confirm code; {remaining} attempts left"),
                )]))
            }
            Some(ConfirmOutcome::Confirmed) if channel == Channel::Sms => {
                // The confirmed phone logs the member in from now on.
                self.claim_phone(&s.member_id, &target).await?;
                Ok(rotation.map(|(token, _)| token))
            }
            _ => Ok(rotation.map(|(token, _)| token)),
        }
    }

    /// Sets the password; returns the rotated token.
    pub async fn set_password(&self, s: &Session, password: &str) -> Result<String, ApiError> {
        if password.chars().count() < 6 || password.len() > 128 {
            return Err(violation("password", "a password has 6 to 128 characters"));
        }
        let pw = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&pw))
            .await
            .map_err(anyhow::Error::from)??;
        let (token, rotate) = self.new_token(&s.member, Some(&s.token_id), false);
        let c = Command::SetPassword {
            hash,
            now: self.now(),
            rotate,
        };
        self.run(&self.members, &member_stream(&s.member_id), &c)
            .await?;
        Ok(token)
    }

    /// Validates and saves the questionnaire answers.
    pub async fn set_answers(&self, s: &Session, answers: &[pb::Answer]) -> Result<(), ApiError> {
        let today = self.now().date_naive();
        let accepted = self
            .settings
            .questionnaire
            .validate(answers, today)
            .map_err(|errors| {
                ApiError::Invalid(
                    errors
                        .into_iter()
                        .map(|(id, messages)| {
                            tonic_types::FieldViolation::new(
                                format!("question:{id}"),
                                messages.join("; "),
                            )
                        })
                        .collect(),
                )
            })?;
        let c = Command::SaveAnswers(accepted, self.now());
        self.run(&self.members, &member_stream(&s.member_id), &c)
            .await?;
        Ok(())
    }

    /// Binds the card to the member on the card's stream, then on the member's.
    async fn attach_card(
        &self,
        member_id: &str,
        number: &str,
        kind: CardKind,
    ) -> Result<(), ApiError> {
        let assign = CardCommand::Assign {
            member_id: member_id.to_owned(),
        };
        self.run(&self.cards, &card_stream(number), &assign).await?;
        let add = Command::AddCard {
            number: number.to_owned(),
            kind,
            now: self.now(),
        };
        self.run(&self.members, &member_stream(member_id), &add)
            .await?;
        Ok(())
    }

    /// `Cards/Set`: binds a physical card from the stock.
    pub async fn set_card(&self, s: &Session, raw: &str) -> Result<String, ApiError> {
        let card = CardNumber::parse(raw).map_err(|e| violation("card_number", e.description))?;
        let (c, _) = self.cards.load(&card_stream(card.as_str()))?;
        if c.kind == CardKind::Virtual as i32 {
            return Err(violation(
                "card_number",
                "a virtual card cannot be bound by number",
            ));
        }
        self.attach_card(&s.member_id, card.as_str(), CardKind::Physical)
            .await?;
        Ok(card.masked())
    }

    /// Whether the member may get a virtual card now.
    pub fn may_emit_virtual(&self, member: &Member) -> bool {
        self.settings.policy.virtual_on_request() && member.virtual_cards() == 0
    }

    /// Emits a virtual card for the member and binds it.
    pub async fn emit_virtual(&self, member: &Member) -> Result<String, ApiError> {
        let _one_at_a_time = self.emit_lock.lock().await;
        let member = &self.member(&member.id)?;
        if !self.may_emit_virtual(member) {
            return Err(ApiError::Disabled("virtual card emission is not allowed"));
        }
        let (first, last, width) = self.settings.virtual_range;
        let alloc = Allocate {
            first,
            last,
            width,
            member_id: member.id.clone(),
        };
        let executed = self.run(&self.range, VIRTUAL_STREAM, &alloc).await?;
        let number = events_of(&executed)
            .into_iter()
            .find_map(|e| match e {
                Event::VirtualNumberAllocated(v) => Some(v.card_number),
                _ => None,
            })
            .ok_or_else(|| anyhow::anyhow!("no number allocated"))?;
        let create = CardCommand::CreateVirtual {
            number: number.clone(),
            member_id: member.id.clone(),
        };
        self.run(&self.cards, &card_stream(&number), &create)
            .await?;
        let add = Command::AddCard {
            number: number.clone(),
            kind: CardKind::Virtual,
            now: self.now(),
        };
        self.run(&self.members, &member_stream(&member.id), &add)
            .await?;
        tracing::info!(member_id = %member.id, card = %crate::domain::values::mask_tail(&number), "virtual card emitted");
        Ok(number)
    }

    /// `AcceptTenderOffer`, emitting a virtual card when the policy says so.
    pub async fn accept(&self, s: &Session) -> Result<String, ApiError> {
        self.run(
            &self.members,
            &member_stream(&s.member_id),
            &Command::Accept(self.now()),
        )
        .await?;
        let by_card = s.member.login_kind == LoginKind::Card as i32;
        if self.settings.policy.virtual_on_accept(by_card) && s.member.virtual_cards() == 0 {
            return match self.emit_virtual(&s.member).await {
                Ok(number) => Ok(crate::domain::values::mask_tail(&number)),
                // A concurrent EmitVirtual gave the member their one card.
                Err(ApiError::Disabled(_)) => Ok(String::new()),
                Err(e) => Err(e),
            };
        }
        Ok(String::new())
    }

    /// `TryFinishRegistration`: returns the new token.
    pub async fn finish(&self, s: &Session) -> Result<String, ApiError> {
        let (token, rotate) = self.new_token(&s.member, Some(&s.token_id), false);
        let c = Command::Finish {
            required: self.settings.policy.required(),
            now: self.now(),
            rotate,
        };
        self.run(&self.members, &member_stream(&s.member_id), &c)
            .await?;
        tracing::info!(member_id = %s.member_id, "registration completed");
        Ok(token)
    }
}
