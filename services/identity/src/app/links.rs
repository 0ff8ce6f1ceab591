//! A member's links and preferences: mailing consent, social accounts (for
//! the social poller) and bank cards (for payment gateways; the PAN is kept
//! only as a keyed hash plus its last 4 digits).

use super::*;
use crate::domain::values::Pan;

/// The claim stream of a social account.
fn social_stream(network: &str, external_user_id: &str) -> String {
    format!("social/{network}/{external_user_id}")
}

/// Normalises a social account: network lower-case, both trimmed.
fn social_account(network: &str, external_user_id: &str) -> (String, String) {
    (
        network.trim().to_ascii_lowercase(),
        external_user_id.trim().to_owned(),
    )
}

/// How a bank card is looked up.
#[derive(Debug, Clone)]
pub enum BankCardKey {
    /// The full card number.
    Pan(String),
    /// The binding id handed out by `BindBankCard`.
    BindingId(String),
}

/// A bank card bound to a member: what is kept of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankCard {
    /// The binding id handed out by `BindBankCard` (derived from the PAN's
    /// keyed hash).
    pub binding_id: String,
    /// The PAN's last 4 digits.
    pub last4: String,
}

impl Identity {
    /// Sets the member's mailing consent.
    pub async fn set_consent(&self, member_id: &str, consent: bool) -> Result<(), ApiError> {
        let c = Command::SetConsent(consent, self.now());
        self.run_member(member_id, &c).await?;
        Ok(())
    }

    /// Links a social account to the member (one member per account).
    pub async fn link_social(
        &self,
        member_id: &str,
        network: &str,
        external_user_id: &str,
    ) -> Result<(), ApiError> {
        let (network, user) = social_account(network, external_user_id);
        if network.is_empty() || network.contains('/') || user.is_empty() || user.len() > 128 {
            return Err(violation(
                "account",
                "network and external_user_id are required (no '/')",
            ));
        }
        let claimed = Event::SocialClaimed(ev::SocialClaimed {
            member_id: member_id.to_owned(),
        });
        self.take_claim(
            &social_stream(&network, &user),
            member_id,
            claimed,
            "the social account",
        )
        .await?;
        let c = Command::LinkSocial {
            network,
            external_user_id: user,
            now: self.now(),
        };
        self.run_member(member_id, &c).await?;
        Ok(())
    }

    /// The member a social account is linked to.
    pub fn find_by_social(
        &self,
        network: &str,
        external_user_id: &str,
    ) -> Result<String, ApiError> {
        let (network, user) = social_account(network, external_user_id);
        let (claim, _) = self.claims.load(&social_stream(&network, &user))?;
        claim.member_id.ok_or(ApiError::NotFound("social account"))
    }

    /// Binds a bank card: the PAN's keyed hash and the binding id are both
    /// claimed for the member; returns the binding id and last 4 digits.
    pub async fn bind_bank_card(
        &self,
        member_id: &str,
        raw_pan: &str,
    ) -> Result<BankCard, ApiError> {
        let pan = Pan::parse(raw_pan).map_err(|e| violation("pan", e.description))?;
        let mac = self.secrets.pan_mac(pan.digits());
        let binding_id = self.secrets.binding_id(&mac);
        let last4 = pan.last4();
        let claimed = Event::BankCardClaimed(ev::BankCardClaimed {
            member_id: member_id.to_owned(),
            binding_id: binding_id.clone(),
            last4: last4.clone(),
        });
        self.take_claim(
            &format!("bankcard/{mac}"),
            member_id,
            claimed.clone(),
            "the bank card",
        )
        .await?;
        self.take_claim(
            &format!("binding/{binding_id}"),
            member_id,
            claimed,
            "the bank card",
        )
        .await?;
        let c = Command::AddBankCard {
            binding_id: binding_id.clone(),
            last4: last4.clone(),
            now: self.now(),
        };
        self.run_member(member_id, &c).await?;
        Ok(BankCard { binding_id, last4 })
    }

    /// The member a bank card is bound to, and the card's binding.
    pub fn find_by_bank_card(&self, key: &BankCardKey) -> Result<(String, BankCard), ApiError> {
        let stream = match key {
            BankCardKey::Pan(pan) => {
                let pan = Pan::parse(pan).map_err(|e| violation("pan", e.description))?;
                format!("bankcard/{}", self.secrets.pan_mac(pan.digits()))
            }
            BankCardKey::BindingId(id) if !id.is_empty() && !id.contains('/') => {
                format!("binding/{id}")
            }
            BankCardKey::BindingId(_) => {
                return Err(violation("key", "a PAN or a binding id is required"));
            }
        };
        let (claim, _) = self.claims.load(&stream)?;
        let member_id = claim.member_id.ok_or(ApiError::NotFound("bank card"))?;
        Ok((
            member_id,
            BankCard {
                binding_id: claim.binding_id,
                last4: claim.last4,
            },
        ))
    }

    /// Finishes a social link whose claim is written (the reconciler): the
    /// member lists the account. A no-op when it does.
    pub(crate) async fn ensure_social_link(
        &self,
        member_id: &str,
        network: &str,
        external_user_id: &str,
    ) -> Result<(), ApiError> {
        let c = Command::LinkSocial {
            network: network.to_owned(),
            external_user_id: external_user_id.to_owned(),
            now: self.now(),
        };
        self.run_member(member_id, &c).await?;
        Ok(())
    }

    /// Finishes a bank-card binding whose PAN claim is written (the
    /// reconciler): the binding id is claimed too and the member lists the
    /// card. Each step is a no-op when done.
    pub(crate) async fn ensure_bank_card(
        &self,
        member_id: &str,
        claimed: &ev::BankCardClaimed,
    ) -> Result<(), ApiError> {
        let event = Event::BankCardClaimed(claimed.clone());
        let binding = format!("binding/{}", claimed.binding_id);
        self.take_claim(&binding, member_id, event, "the bank card")
            .await?;
        let c = Command::AddBankCard {
            binding_id: claimed.binding_id.clone(),
            last4: claimed.last4.clone(),
            now: self.now(),
        };
        self.run_member(member_id, &c).await?;
        Ok(())
    }
}
