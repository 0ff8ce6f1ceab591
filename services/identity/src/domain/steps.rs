//! Which registration steps exist and which are required: the seed's
//! configuration flags (`EmitVirtualCard`, `MainCardAssigningRequired`,
//! `RegistrationProvider*`) turned into the `actions` list.

use super::model::Step;

/// Whether a step is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMode {
    /// Not part of the registration.
    Off,
    /// Listed, may be skipped.
    Optional,
    /// Must be done before TryFinishRegistration.
    Required,
}

/// The registration configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `EmitVirtualCard`: 0 no virtual cards; 1 on request (`PUT
    /// EmitVirtual`) and automatically after AcceptTenderOffer when
    /// registering by card; 2 automatically after AcceptTenderOffer in
    /// every flow.
    pub emit_virtual_card: u8,
    /// `MainCardAssigningRequired`: 0 no AssignCard step; 1 required;
    /// 2 optional.
    pub main_card_assigning_required: u8,
    /// `RegistrationProviderPhone`: registration by phone number allowed.
    pub provider_phone: bool,
    /// `RegistrationProviderCard`: registration by card number allowed.
    pub provider_card: bool,
    /// The e-mail step.
    pub email: StepMode,
    /// The questionnaire step.
    pub questions: StepMode,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            emit_virtual_card: 1,
            main_card_assigning_required: 1,
            provider_phone: true,
            provider_card: true,
            email: StepMode::Optional,
            questions: StepMode::Required,
        }
    }
}

impl Policy {
    /// The steps of a registration, in order, each with its mode (`Off`
    /// steps are left out).
    pub fn actions(&self) -> Vec<(Step, bool)> {
        let card = match self.main_card_assigning_required {
            0 => StepMode::Off,
            2 => StepMode::Optional,
            _ => StepMode::Required,
        };
        [
            (Step::AcceptTenderOffer, StepMode::Required),
            (Step::ChangePhone, StepMode::Required),
            (Step::ChangeEmail, self.email),
            (Step::PasswordRequired, StepMode::Required),
            (Step::Questions, self.questions),
            (Step::AssignCard, card),
        ]
        .into_iter()
        .filter(|(_, mode)| *mode != StepMode::Off)
        .map(|(step, mode)| (step, mode == StepMode::Required))
        .collect()
    }

    /// Required steps, in order.
    pub fn required(&self) -> Vec<Step> {
        self.actions()
            .into_iter()
            .filter_map(|(s, required)| required.then_some(s))
            .collect()
    }

    /// Whether `step` is part of the registration.
    pub fn has(&self, step: Step) -> bool {
        self.actions().iter().any(|(s, _)| *s == step)
    }

    /// Whether a member may get a virtual card on request.
    pub fn virtual_on_request(&self) -> bool {
        self.emit_virtual_card != 0
    }

    /// Whether AcceptTenderOffer emits a virtual card by itself, for a
    /// registration that began with a card (`by_card`) or a phone.
    pub fn virtual_on_accept(&self, by_card: bool) -> bool {
        match self.emit_virtual_card {
            1 => by_card,
            2 => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_phone_flow_lists_every_step() {
        let p = Policy::default();
        let names: Vec<_> = p.actions().iter().map(|(s, r)| (s.name(), *r)).collect();
        assert_eq!(
            names,
            vec![
                ("USER_ACTION_TYPE_ACCEPT_TENDER_OFFER", true),
                ("USER_ACTION_TYPE_CHANGE_PHONE", true),
                ("USER_ACTION_TYPE_CHANGE_EMAIL", false),
                ("USER_ACTION_TYPE_PASSWORD_REQUIRED", true),
                ("USER_ACTION_TYPE_QUESTIONS", true),
                ("USER_ACTION_TYPE_ASSIGN_CARD", true),
            ]
        );
        let p = Policy {
            main_card_assigning_required: 0,
            email: StepMode::Off,
            ..Policy::default()
        };
        assert!(!p.has(Step::AssignCard));
        assert!(!p.has(Step::ChangeEmail));
        assert!(p.virtual_on_accept(true) && !p.virtual_on_accept(false));
    }
}
