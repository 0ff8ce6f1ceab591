//! `loyalty.identity.v1.RegistrationService`: the seed's registration steps.

use std::sync::Arc;

use loyalty_proto::identity::v1::{self as pb, registration_service_server::RegistrationService};
use tonic::Request;

use super::{Answer, full_session, ok, session};
use crate::app::Identity;
use crate::domain::model::{self, Channel};
use crate::domain::values::mask_tail;
use crate::secrets::CODE_LENGTH;

/// The registration service.
pub struct RegistrationApi {
    identity: Arc<Identity>,
}

impl RegistrationApi {
    /// Serves `identity`.
    pub fn new(identity: Arc<Identity>) -> Self {
        Self { identity }
    }
}

#[tonic::async_trait]
impl RegistrationService for RegistrationApi {
    async fn begin_registration(
        &self,
        r: Request<pb::BeginRegistrationRequest>,
    ) -> Answer<pb::BeginRegistrationResponse> {
        let r = r.into_inner();
        ok(self.identity.begin(&r.login, &r.password).await?.into())
    }

    async fn get_actions(
        &self,
        r: Request<pb::GetActionsRequest>,
    ) -> Answer<pb::GetActionsResponse> {
        let s = session(&self.identity, &r)?;
        let actions = self
            .identity
            .settings
            .policy
            .actions()
            .into_iter()
            .map(|(step, required)| pb::UserAction {
                user_action_type: pb::UserActionType::from(step) as i32,
                action_state: if required {
                    pb::ActionState::Required
                } else {
                    pb::ActionState::Optional
                } as i32,
                is_done: s.member.is_done(step),
            })
            .collect();
        ok(pb::GetActionsResponse { actions })
    }

    async fn accept_tender_offer(
        &self,
        r: Request<pb::AcceptTenderOfferRequest>,
    ) -> Answer<pb::AcceptTenderOfferResponse> {
        let s = full_session(&self.identity, &r)?;
        let emitted_virtual_card = self.identity.accept(&s).await?;
        ok(pb::AcceptTenderOfferResponse {
            emitted_virtual_card,
        })
    }

    async fn get_phone_number(
        &self,
        r: Request<pb::GetPhoneNumberRequest>,
    ) -> Answer<pb::GetPhoneNumberResponse> {
        let s = session(&self.identity, &r)?;
        let phone = &s.member.phone;
        ok(pb::GetPhoneNumberResponse {
            current_phone_number: phone
                .confirmed
                .as_deref()
                .map(mask_tail)
                .unwrap_or_default(),
            new_phone_number: phone.pending.as_deref().map(mask_tail).unwrap_or_default(),
            confirm_code_length: CODE_LENGTH,
        })
    }

    async fn set_phone_number(
        &self,
        r: Request<pb::SetPhoneNumberRequest>,
    ) -> Answer<pb::SetPhoneNumberResponse> {
        let s = full_session(&self.identity, &r)?;
        self.identity
            .set_phone(&s, &r.get_ref().phone_number)
            .await?;
        ok(pb::SetPhoneNumberResponse {
            confirm_code_length: CODE_LENGTH,
        })
    }

    async fn confirm_phone_number(
        &self,
        r: Request<pb::ConfirmPhoneNumberRequest>,
    ) -> Answer<pb::ConfirmPhoneNumberResponse> {
        let s = session(&self.identity, &r)?;
        let token = self
            .identity
            .confirm(&s, Channel::Sms, &r.get_ref().confirm_code)
            .await?;
        ok(pb::ConfirmPhoneNumberResponse {
            auth_token: token.unwrap_or_default(),
        })
    }

    async fn send_phone_confirm_code(
        &self,
        r: Request<pb::SendPhoneConfirmCodeRequest>,
    ) -> Answer<pb::SendPhoneConfirmCodeResponse> {
        let s = session(&self.identity, &r)?;
        self.identity.resend_code(&s.member, Channel::Sms).await?;
        ok(pb::SendPhoneConfirmCodeResponse {
            confirm_code_length: CODE_LENGTH,
        })
    }

    async fn set_password(
        &self,
        r: Request<pb::SetPasswordRequest>,
    ) -> Answer<pb::SetPasswordResponse> {
        let s = full_session(&self.identity, &r)?;
        let auth_token = self
            .identity
            .set_password(&s, &r.get_ref().password)
            .await?;
        ok(pb::SetPasswordResponse { auth_token })
    }

    async fn get_email(&self, r: Request<pb::GetEmailRequest>) -> Answer<pb::GetEmailResponse> {
        let s = full_session(&self.identity, &r)?;
        let email = &s.member.email;
        let masked = |e: &str| {
            crate::domain::values::Email::parse(e)
                .map(|e| e.masked())
                .unwrap_or_default()
        };
        ok(pb::GetEmailResponse {
            current_email: email.confirmed.as_deref().map(masked).unwrap_or_default(),
            new_email: email.pending.as_deref().map(masked).unwrap_or_default(),
            confirm_code_length: CODE_LENGTH,
        })
    }

    async fn set_email(&self, r: Request<pb::SetEmailRequest>) -> Answer<pb::SetEmailResponse> {
        let s = full_session(&self.identity, &r)?;
        self.identity.set_email(&s, &r.get_ref().email).await?;
        ok(pb::SetEmailResponse {
            confirm_code_length: CODE_LENGTH,
        })
    }

    async fn confirm_email(
        &self,
        r: Request<pb::ConfirmEmailRequest>,
    ) -> Answer<pb::ConfirmEmailResponse> {
        let s = full_session(&self.identity, &r)?;
        self.identity
            .confirm(&s, Channel::Email, &r.get_ref().confirm_code)
            .await?;
        ok(pb::ConfirmEmailResponse {})
    }

    async fn send_email_confirm_code(
        &self,
        r: Request<pb::SendEmailConfirmCodeRequest>,
    ) -> Answer<pb::SendEmailConfirmCodeResponse> {
        let s = full_session(&self.identity, &r)?;
        self.identity.resend_code(&s.member, Channel::Email).await?;
        ok(pb::SendEmailConfirmCodeResponse {
            confirm_code_length: CODE_LENGTH,
        })
    }

    async fn get_questions(
        &self,
        r: Request<pb::GetQuestionsRequest>,
    ) -> Answer<pb::GetQuestionsResponse> {
        let s = full_session(&self.identity, &r)?;
        let questions = self
            .identity
            .settings
            .questionnaire
            .render(r.get_ref().only_required, &s.member.answers)
            .into_iter()
            .map(pb::QuestionNode::from)
            .collect();
        ok(pb::GetQuestionsResponse { questions })
    }

    async fn set_answers(
        &self,
        r: Request<pb::SetAnswersRequest>,
    ) -> Answer<pb::SetAnswersResponse> {
        let s = full_session(&self.identity, &r)?;
        let answers: Vec<model::Answer> = (r.into_inner().answers.into_iter())
            .map(model::Answer::from)
            .collect();
        self.identity.set_answers(&s, &answers).await?;
        ok(pb::SetAnswersResponse {})
    }

    async fn set_card(&self, r: Request<pb::SetCardRequest>) -> Answer<pb::SetCardResponse> {
        let s = full_session(&self.identity, &r)?;
        let card_number_masked = self.identity.set_card(&s, &r.get_ref().card_number).await?;
        ok(pb::SetCardResponse { card_number_masked })
    }

    async fn get_emit_virtual(
        &self,
        r: Request<pb::GetEmitVirtualRequest>,
    ) -> Answer<pb::GetEmitVirtualResponse> {
        let s = full_session(&self.identity, &r)?;
        ok(pb::GetEmitVirtualResponse {
            current_count_of_virtual_cards: s.member.virtual_cards() as u32,
            is_virtual_card_emission_allowed: self.identity.may_emit_virtual(&s.member),
        })
    }

    async fn emit_virtual(
        &self,
        r: Request<pb::EmitVirtualRequest>,
    ) -> Answer<pb::EmitVirtualResponse> {
        let s = full_session(&self.identity, &r)?;
        let card_number = self.identity.emit_virtual(&s.member).await?;
        ok(pb::EmitVirtualResponse { card_number })
    }

    async fn try_finish_registration(
        &self,
        r: Request<pb::TryFinishRegistrationRequest>,
    ) -> Answer<pb::TryFinishRegistrationResponse> {
        let s = full_session(&self.identity, &r)?;
        let auth_token = self.identity.finish(&s).await?;
        ok(pb::TryFinishRegistrationResponse {
            registration_completed: true,
            auth_token,
        })
    }
}
