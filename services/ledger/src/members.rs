//! Resolving a batch line's `memberNo` (a card number or a member number)
//! to the member id accounts are kept under.

/// Looks members up by card or member number.
#[tonic::async_trait]
pub trait MemberDirectory: Send + Sync + 'static {
    /// The member id for `member_no`, or `None` when nobody has it.
    async fn resolve(&self, member_no: &str) -> anyhow::Result<Option<String>>;
}

/// Takes `memberNo` as the member id itself. Used while no identity service
/// is configured; the identity service's card/member lookup replaces it.
pub struct MemberNoIsMemberId;

#[tonic::async_trait]
impl MemberDirectory for MemberNoIsMemberId {
    async fn resolve(&self, member_no: &str) -> anyhow::Result<Option<String>> {
        Ok(Some(member_no.to_owned()))
    }
}
