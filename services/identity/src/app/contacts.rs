//! Contacts and confirm codes: entering a phone or e-mail, sending and checking codes.

use super::*;
use crate::domain::card::ClaimCommand;
use crate::domain::values::mask_tail;

impl Identity {
    pub(super) fn new_code(
        &self,
        member_id: &str,
        channel: Channel,
        contact: &str,
    ) -> (String, NewCode) {
        let code = self.secrets.new_code();
        let mac = self.secrets.code_mac(member_id, channel, contact, &code);
        (
            code,
            NewCode {
                mac,
                expires_at: self.now() + self.settings.code_ttl,
            },
        )
    }

    pub(super) async fn deliver(
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

    /// Enters a contact (a phone number or an e-mail) and sends it a code.
    pub async fn enter_contact(
        &self,
        member: &Member,
        contact: NewContact,
    ) -> Result<(), ApiError> {
        let (channel, value) = (contact.channel(), contact.as_str().to_owned());
        let (code, new) = self.new_code(&member.id, channel, &value);
        let c = Command::EnterContact {
            contact,
            code: new,
            now: self.now(),
            limits: self.settings.limits,
        };
        self.run_member(&member.id, &c).await?;
        self.deliver(&member.id, channel, &value, &code).await
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
        self.run_member(&member.id, &c).await?;
        self.deliver(&member.id, channel, &target, &code).await
    }

    /// Parses and enters a phone number.
    pub async fn set_phone(&self, s: &Session, raw: &str) -> Result<(), ApiError> {
        let phone = Phone::parse(raw).map_err(|e| violation("phone_number", e.description))?;
        self.check_phone_free(&s.member_id, phone.as_str())?;
        self.enter_contact(&s.member, NewContact::Phone(phone))
            .await
    }

    /// Refuses a phone number that is another member's login.
    pub(super) fn check_phone_free(&self, member_id: &str, phone: &str) -> Result<(), ApiError> {
        let (claim, _) = self.claims.load(&login_stream(LoginKind::Phone, phone))?;
        match claim.member_id {
            Some(holder) if holder != member_id => Err(ApiError::Taken("the phone number")),
            _ => Ok(()),
        }
    }

    /// Makes a confirmed phone number the member's login (a no-op when it
    /// already is, e.g. the phone the registration began with).
    pub(crate) async fn claim_phone(&self, member_id: &str, phone: &str) -> Result<(), ApiError> {
        let claimed = Event::LoginClaimed(ev::LoginClaimed {
            member_id: member_id.to_owned(),
            kind: LoginKind::Phone,
            login: phone.to_owned(),
        });
        let stream = login_stream(LoginKind::Phone, phone);
        self.take_claim(&stream, member_id, claimed, "the phone number")
            .await
    }

    /// Parses and enters an e-mail address.
    pub async fn set_email(&self, s: &Session, raw: &str) -> Result<(), ApiError> {
        let email = Email::parse(raw).map_err(|e| violation("email", e.description))?;
        self.enter_contact(&s.member, NewContact::Email(email))
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
        let mac = self.secrets.code_mac(&s.member_id, channel, &target, code);
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
                // The confirmed phone logs the member in from now on, and
                // the member's other phones no longer do: they are free for
                // whoever holds them now.
                self.claim_phone(&s.member_id, &target).await?;
                self.release_other_phones(&s.member, &target).await?;
                Ok(rotation.map(|(token, _)| token))
            }
            _ => Ok(rotation.map(|(token, _)| token)),
        }
    }

    /// Releases the member's phone logins other than `kept`: the phone
    /// confirmed before and the phone the registration began with.
    pub(crate) async fn release_other_phones(
        &self,
        member: &Member,
        kept: &str,
    ) -> Result<(), ApiError> {
        let began_with = (member.login_kind == Some(LoginKind::Phone)).then_some(&member.login);
        let mut others: Vec<&String> = member.phone.confirmed.iter().chain(began_with).collect();
        others.retain(|p| p.as_str() != kept);
        others.dedup();
        for phone in others {
            let release = ClaimCommand::Release {
                member_id: member.id.clone(),
            };
            let stream = login_stream(LoginKind::Phone, phone);
            self.run(&self.claims, &stream, &release).await?;
            tracing::info!(member_id = %member.id, phone = %mask_tail(phone), "phone login released");
        }
        Ok(())
    }
}
