//! Refresh tokens: OAuth2's refresh grant. A password login of a registered
//! member gets a token and a refresh token; trading the refresh token
//! replaces both (rotation). A refresh token presented again after it was
//! traded is taken as stolen and ends the session it led to (RFC 9700
//! §4.14.2), except within [`REFRESH_RETRY_GRACE`] of the trade while the
//! pair it was traded for is unused: a client whose answer was lost on the
//! way gets a fresh pair instead of losing its session.

use chrono::{DateTime, Duration, Utc};

use super::Identity;
use crate::domain::member::{Command, Member, MemberError, NewRefresh, NewToken};
use crate::error::ApiError;
use crate::secrets;

/// How long after a trade the traded refresh token may be retried.
pub const REFRESH_RETRY_GRACE: Duration = Duration::seconds(30);

/// A token and its refresh token, as the client gets them (once).
#[derive(Clone)]
pub struct TokenPair {
    /// The member.
    pub member_id: String,
    /// The token.
    pub token: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// The refresh token.
    pub refresh: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("member_id", &self.member_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new token with a refresh token for `member`, replacing `replaces`.
    fn new_pair(&self, member: &Member, replaces: Option<&str>) -> (TokenPair, NewToken) {
        let (token, mut t) = self.new_token(member, replaces, false);
        let (refresh, secret_hash) = secrets::new_refresh(&t.token_id);
        let refresh_expires_at = t.issued_at + self.settings.refresh_ttl;
        t.refresh = Some(NewRefresh {
            secret_hash,
            expires_at: refresh_expires_at,
        });
        let pair = TokenPair {
            member_id: member.id.clone(),
            token,
            expires_at: t.expires_at,
            refresh,
            refresh_expires_at,
        };
        (pair, t)
    }

    /// Issues a token with a refresh token (a password login), replacing
    /// `replaces` when given.
    pub(super) async fn issue_pair(
        &self,
        member: &Member,
        replaces: Option<&str>,
    ) -> Result<TokenPair, ApiError> {
        let (pair, t) = self.new_pair(member, replaces);
        match self.run_member(&member.id, &Command::IssueToken(t)).await {
            Ok(_) => Ok(pair),
            // Replaced meanwhile by a concurrent trade of the same token.
            Err(kit::aggregate::RepositoryError::Domain(MemberError::TokenInvalid)) => Err(
                ApiError::Unauthenticated("refresh token already used; log in again"),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Trades a refresh token for a new pair (see the module's text).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError> {
        const UNKNOWN: ApiError = ApiError::Unauthenticated("unknown refresh token");
        let (token_id, member_id, hash) = secrets::parse_refresh(refresh_token).ok_or(UNKNOWN)?;
        let member = self.member(&member_id).map_err(|_| UNKNOWN)?;
        let now = self.now();
        if let Some(t) = member.tokens.get(&token_id) {
            let refresh = t.refresh.as_ref().ok_or(UNKNOWN)?;
            if !secrets::same_hash(&refresh.secret_hash, &hash) {
                return Err(UNKNOWN);
            }
            if refresh.expires_at <= now {
                return Err(ApiError::Unauthenticated("expired refresh token"));
            }
            return self.issue_pair(&member, Some(&token_id)).await;
        }
        let Some(retired) = member
            .retired
            .iter()
            .find(|r| r.token_id == token_id && secrets::same_hash(&r.refresh_hash, &hash))
        else {
            return Err(UNKNOWN);
        };
        let current = member.current_successor(&retired.successor);
        let unused = current == Some(retired.successor.as_str());
        let recent = retired.at.is_some_and(|at| now - at <= REFRESH_RETRY_GRACE);
        if unused && recent {
            return self.issue_pair(&member, Some(&retired.successor)).await;
        }
        if let Some(current) = current {
            tracing::warn!(
                member_id = %member.id,
                "a traded refresh token was presented again: the session is ended"
            );
            self.run_member(&member.id, &Command::RevokeToken(current.to_owned()))
                .await?;
        }
        Err(ApiError::Unauthenticated(
            "refresh token already used; the session is ended, log in again",
        ))
    }
}
