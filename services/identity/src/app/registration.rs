//! Registration: begin / continue / log in, password, answers, the offer, finishing.

use super::*;

/// A parsed login: what a registration begins with, or logs in by.
pub(super) enum Login {
    /// A phone number.
    Phone(Phone),
    /// A card number of the stock.
    Card(CardNumber),
}

impl Login {
    /// Phone or card.
    fn kind(&self) -> LoginKind {
        match self {
            Login::Phone(_) => LoginKind::Phone,
            Login::Card(_) => LoginKind::Card,
        }
    }

    /// The normalised login.
    fn as_str(&self) -> &str {
        match self {
            Login::Phone(p) => p.as_str(),
            Login::Card(c) => c.as_str(),
        }
    }
}

/// How a `BeginRegistration` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginState {
    /// Started, continued or logged in: a token is issued.
    Success,
    /// The member has a password: it is missing or was wrong (no token).
    PasswordRequired,
}

/// The answer to `BeginRegistration` (its `Debug` leaves the tokens out).
#[derive(Clone, PartialEq, Eq)]
pub struct Begun {
    /// How it ended.
    pub state: BeginState,
    /// What to tell the member when a password is required; empty otherwise.
    pub error_message: String,
    /// The token issued (empty when a password is required).
    pub auth_token: String,
    /// The member registering or logging in.
    pub member_id: String,
    /// Whether the member finished registering.
    pub registration_completed: bool,
    /// A refresh token (a registered member's password login only).
    pub refresh_token: String,
    /// When the token expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Begun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Begun")
            .field("state", &self.state)
            .field("member_id", &self.member_id)
            .field("registration_completed", &self.registration_completed)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Parses a login: a known card number, else a phone number.
    pub(super) fn parse_login(&self, login: &str) -> Result<Login, ApiError> {
        if let Ok(card) = CardNumber::parse(login) {
            let (c, _) = self.cards.load(&card_stream(card.as_str()))?;
            if !c.number.is_empty() {
                if !self.settings.policy.provider_card {
                    return Err(ApiError::Disabled("registration by card is switched off"));
                }
                return Ok(Login::Card(card));
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
        Ok(Login::Phone(phone))
    }

    /// `BeginRegistration`: starts, continues, or logs in.
    pub async fn begin(&self, login: &str, password: &str) -> Result<Begun, ApiError> {
        let parsed = self.parse_login(login)?;
        let (kind, login) = (parsed.kind(), parsed.as_str().to_owned());
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
            (None, None) => return self.open(&parsed, &claim_stream).await,
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
        let answer = |state: BeginState, token: Option<(String, DateTime<Utc>)>, message: &str| {
            let (auth_token, expires_at) =
                token.map_or((String::new(), None), |(t, e)| (t, Some(e)));
            Begun {
                state,
                error_message: message.to_owned(),
                auth_token,
                member_id: member.id.clone(),
                registration_completed: member.registered,
                refresh_token: String::new(),
                expires_at,
            }
        };
        let required = BeginState::PasswordRequired;
        match &member.password_hash {
            Some(_) if password.is_empty() => Ok(answer(required, None, "Требуется пароль.")),
            Some(hash) => {
                let (hash, pw) = (hash.clone(), password.to_owned());
                let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&hash, &pw))
                    .await
                    .map_err(anyhow::Error::from)?;
                if !ok {
                    self.run_member(&member.id, &Command::FailLogin(now))
                        .await?;
                    if member.registered {
                        return Err(ApiError::BadCredentials);
                    }
                    return Ok(answer(required, None, "Неверный пароль."));
                }
                if member.registered {
                    // A login: the token comes with a refresh token.
                    let pair = self.issue_pair(&member, None).await?;
                    return Ok(Begun {
                        refresh_token: pair.refresh,
                        ..answer(BeginState::Success, Some((pair.token, pair.expires_at)), "")
                    });
                }
                let token = self.issue_token(&member, false).await?;
                Ok(answer(BeginState::Success, Some(token), ""))
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
                Ok(answer(BeginState::Success, Some(token), ""))
            }
        }
    }

    pub(super) async fn open(&self, parsed: &Login, claim_stream: &str) -> Result<Begun, ApiError> {
        let (kind, login) = (parsed.kind(), parsed.as_str());
        let member_id = uuid::Uuid::now_v7().to_string();
        let take = Take {
            member_id: member_id.clone(),
            event: Event::LoginClaimed(ev::LoginClaimed {
                member_id: member_id.clone(),
                kind,
                login: login.to_owned(),
            }),
        };
        match self.run(&self.claims, claim_stream, &take.into()).await {
            Ok(_) => {}
            // Someone registered the same login at the same moment: continue theirs.
            Err(kit::aggregate::RepositoryError::Domain(_)) => {
                return Box::pin(self.begin(login, "")).await;
            }
            Err(e) => return Err(e.into()),
        }
        self.open_member(&member_id, kind, login).await?;
        let member = self.member(&member_id)?;
        let (token, expires_at) = self.issue_token(&member, false).await?;
        if let Login::Phone(phone) = parsed {
            // The seed: the answer to BeginRegistration comes with a code sent.
            self.enter_contact(&member, NewContact::Phone(phone.clone()))
                .await?;
        }
        Ok(Begun {
            state: BeginState::Success,
            error_message: String::new(),
            auth_token: token,
            member_id,
            registration_completed: false,
            refresh_token: String::new(),
            expires_at: Some(expires_at),
        })
    }

    /// Opens the member of a claimed login, and binds the login card; safe to
    /// repeat (the member may be open already, the card bound already).
    pub(super) async fn open_member(
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
        match self.run_member(member_id, &open).await {
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

    /// Sets the password; returns the rotated token.
    pub async fn set_password(&self, s: &Session, password: &str) -> Result<String, ApiError> {
        if password.chars().count() < 6 || password.len() > 128 {
            return Err(violation("password", "a password has 6 to 128 characters"));
        }
        // Before the (costly) hashing.
        s.member.phone_proven()?;
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
        self.run_member(&s.member_id, &c).await?;
        Ok(token)
    }

    /// Validates and saves the questionnaire answers.
    pub async fn set_answers(
        &self,
        s: &Session,
        answers: &[crate::domain::model::Answer],
    ) -> Result<(), ApiError> {
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
        self.run_member(&s.member_id, &c).await?;
        Ok(())
    }

    /// `AcceptTenderOffer`, emitting a virtual card when the policy says so.
    pub async fn accept(&self, s: &Session) -> Result<String, ApiError> {
        self.run_member(&s.member_id, &Command::Accept(self.now()))
            .await?;
        let by_card = s.member.login_kind == Some(LoginKind::Card);
        if self.settings.policy.virtual_on_accept(by_card) && s.member.virtual_cards() == 0 {
            return match self.emit_virtual(&s.member).await {
                Ok(number) => Ok(crate::domain::values::mask_tail(&number)),
                // A concurrent EmitVirtual gave the member their one card.
                Err(ApiError::VirtualCardExists) => Ok(String::new()),
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
        self.run_member(&s.member_id, &c).await?;
        tracing::info!(member_id = %s.member_id, "registration completed");
        Ok(token)
    }
}
