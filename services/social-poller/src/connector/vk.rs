//! VK: the real API's JSON over HTTP (`POST <base><method>` with form
//! parameters `v` and `access_token`, so the token never appears in a
//! URL). `groups.getMembers` (offset paging, 1000 a page), `wall.get` (the
//! latest posts, at most 100), and per post `likes.getList` (type post,
//! 1000 a page), `wall.getComments` (100 a page) and `wall.getReposts`
//! (1000 a page). VK's error object `{"error":{"error_code","error_msg"}}`
//! is classified: 6, 9, 29 rate limits; 5, 15, 203 refusals of the token
//! or the access.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::pace::Pacer;
use super::{Connector, ConnectorError};
use crate::domain::activity::MAX_EXTERNAL_ID;
use crate::domain::group::{MAX_MEMBERS, Observation, PostObservation, Settings};
use crate::secrets::Secret;

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://api.vk.com/method/";
/// The API version sent as `v`.
pub const DEFAULT_VERSION: &str = "5.199";
/// Members per `groups.getMembers` page (VK's maximum).
pub const MEMBERS_PAGE: usize = 1000;
/// Likes per `likes.getList` page (VK's maximum).
pub const LIKES_PAGE: usize = 1000;
/// Comments per `wall.getComments` page (VK's maximum).
pub const COMMENTS_PAGE: usize = 100;
/// Reposts per `wall.getReposts` page (VK's maximum).
pub const REPOSTS_PAGE: usize = 1000;
/// Most likes, comments or reposts read per post.
pub const MAX_PER_POST: usize = 100_000;
/// Longest answer read, in bytes.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// Rate-limit codes: too many requests per second (6), flood control (9),
/// the method's daily limit (29).
pub const RATE_LIMIT_CODES: [i64; 3] = [6, 9, 29];
/// The daily limit's code: no retry before the next day.
pub const DAILY_LIMIT_CODE: i64 = 29;
/// Requests a second per token (VK's limit).
pub const REQUESTS_PER_SECOND: u32 = 3;
/// Pauses before retrying a call VK refused with 6 or 9, within the poll.
pub const RETRY_PAUSES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];
/// Refusal codes: authorization failed (5), access denied (15), access to
/// the group denied (203).
pub const REFUSAL_CODES: [i64; 3] = [5, 15, 203];

/// VK's API client.
#[derive(Debug, Clone)]
pub struct Vk {
    http: reqwest::Client,
    pacer: Arc<Pacer>,
    base_url: String,
    version: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    response: Option<T>,
    error: Option<VkError>,
}

#[derive(Deserialize)]
struct VkError {
    error_code: i64,
    #[serde(default)]
    error_msg: String,
}

#[derive(Deserialize)]
struct Ids {
    #[serde(default)]
    count: Option<u64>,
    items: Vec<i64>,
}

#[derive(Deserialize)]
struct Post {
    id: i64,
    owner_id: i64,
    #[serde(default)]
    date: Option<i64>,
}

#[derive(Deserialize)]
struct Posts {
    items: Vec<Post>,
}

#[derive(Deserialize)]
struct Comment {
    id: i64,
    #[serde(default)]
    from_id: i64,
    #[serde(default)]
    deleted: Option<bool>,
}

#[derive(Deserialize)]
struct Comments {
    #[serde(default)]
    count: Option<u64>,
    items: Vec<Comment>,
}

#[derive(Deserialize)]
struct Repost {
    id: i64,
    owner_id: i64,
    #[serde(default)]
    from_id: Option<i64>,
}

#[derive(Deserialize)]
struct Reposts {
    items: Vec<Repost>,
}

/// Classifies VK's error object.
pub fn classify(code: i64, message: &str) -> ConnectorError {
    let mut message: String = message.chars().take(200).collect();
    message = message.replace(char::is_control, " ");
    let reason = format!("VK error {code}: {message}");
    if code == DAILY_LIMIT_CODE {
        ConnectorError::DailyLimit(reason)
    } else if RATE_LIMIT_CODES.contains(&code) {
        ConnectorError::RateLimited(reason)
    } else if REFUSAL_CODES.contains(&code) {
        ConnectorError::Refused(reason)
    } else {
        ConnectorError::Failed(reason)
    }
}

fn user(id: i64) -> Result<String, ConnectorError> {
    let s = id.to_string();
    if s.len() > MAX_EXTERNAL_ID {
        return Err(ConnectorError::Failed("an id longer than allowed".into()));
    }
    Ok(s)
}

/// Checks VK's base URL: `https`, or `http` to a loopback host only (a
/// stand-in on this machine), so the token never crosses a network in
/// clear.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "must be a URL".to_owned())?;
    let Some(host) = parsed.host_str() else {
        return Err("must name a host".into());
    };
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https (http only to a loopback host)".into()),
    }
}

impl Vk {
    /// A client of the API at `base_url` (ending in `/method/`), version
    /// `version`, each call limited to `timeout`.
    pub fn new(base_url: &str, version: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut base_url = base_url.to_owned();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        check_base_url(&base_url).map_err(|e| anyhow::anyhow!("VK base URL {e}"))?;
        Ok(Self {
            // No redirects: a 307/308 would send the form, token and all,
            // wherever the answer points.
            http: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            pacer: Pacer::new(REQUESTS_PER_SECOND),
            base_url,
            version: version.to_owned(),
        })
    }

    /// Paces calls at `per_second` per token instead of
    /// [`REQUESTS_PER_SECOND`].
    pub fn with_pacing(mut self, per_second: u32) -> Self {
        self.pacer = Pacer::new(per_second);
        self
    }

    /// One method call, paced per token; VK's 6 and 9 are retried after
    /// [`RETRY_PAUSES`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[(&str, String)],
        token: &Secret,
    ) -> Result<T, ConnectorError> {
        let mut pauses = RETRY_PAUSES.iter();
        loop {
            self.pacer.pace(token.expose()).await;
            match self.call_once(method, params, token).await {
                Err(ConnectorError::RateLimited(reason)) => match pauses.next() {
                    Some(pause) => {
                        tracing::debug!(%method, %reason, ?pause, "rate limited: retrying");
                        tokio::time::sleep(*pause).await;
                    }
                    None => return Err(ConnectorError::RateLimited(reason)),
                },
                other => return other,
            }
        }
    }

    async fn call_once<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[(&str, String)],
        token: &Secret,
    ) -> Result<T, ConnectorError> {
        let mut form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("v", &self.version));
        form.push(("access_token", token.expose()));
        // The error never shows the request (it holds the token).
        let failed = |what: &str, e: reqwest::Error| {
            ConnectorError::Failed(format!("{method}: {what}: {}", e.without_url()))
        };
        let answer = self
            .http
            .post(format!("{}{method}", self.base_url))
            .form(&form)
            .send()
            .await
            .map_err(|e| failed("request", e))?;
        if !answer.status().is_success() {
            return Err(ConnectorError::Failed(format!(
                "{method}: HTTP {}",
                answer.status()
            )));
        }
        let too_large = || ConnectorError::Failed(format!("{method}: answer too large"));
        if answer
            .content_length()
            .is_some_and(|l| l > MAX_ANSWER as u64)
        {
            return Err(too_large());
        }
        // Read in chunks, never past the cap (a body without a length may
        // be endless).
        let mut answer = answer;
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(|e| failed("answer", e))? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let envelope: Envelope<T> = serde_json::from_slice(&body)
            .map_err(|e| ConnectorError::Failed(format!("{method}: unexpected answer: {e}")))?;
        match (envelope.response, envelope.error) {
            (_, Some(e)) => Err(classify(e.error_code, &e.error_msg)),
            (Some(r), None) => Ok(r),
            (None, None) => Err(ConnectorError::Failed(format!(
                "{method}: neither response nor error"
            ))),
        }
    }

    /// Every member of the group, page by page.
    async fn members(
        &self,
        group: &str,
        token: &Secret,
    ) -> Result<(BTreeSet<String>, bool), ConnectorError> {
        let mut members = BTreeSet::new();
        let mut offset = 0usize;
        loop {
            let page: Ids = self
                .call(
                    "groups.getMembers",
                    &[
                        ("group_id", group.to_owned()),
                        ("offset", offset.to_string()),
                        ("count", MEMBERS_PAGE.to_string()),
                    ],
                    token,
                )
                .await?;
            offset += page.items.len();
            let before = members.len();
            for id in page.items.iter().copied() {
                members.insert(user(id)?);
            }
            if members.len() > MAX_MEMBERS {
                return Err(ConnectorError::Failed(format!(
                    "more than {MAX_MEMBERS} members"
                )));
            }
            let total = page.count.unwrap_or(0) as usize;
            // A page adding nobody new (VK repeating itself) ends the
            // listing as surely as a short one.
            if page.items.is_empty()
                || offset >= total
                || offset >= MAX_MEMBERS
                || members.len() == before
            {
                // Complete: as many as VK counts.
                let complete = members.len() == total;
                return Ok((members, complete));
            }
        }
    }

    async fn likes(
        &self,
        owner: i64,
        post: i64,
        token: &Secret,
    ) -> Result<(BTreeSet<String>, bool), ConnectorError> {
        let mut likes = BTreeSet::new();
        let mut offset = 0usize;
        loop {
            let page: Ids = self
                .call(
                    "likes.getList",
                    &[
                        ("type", "post".to_owned()),
                        ("owner_id", owner.to_string()),
                        ("item_id", post.to_string()),
                        ("offset", offset.to_string()),
                        ("count", LIKES_PAGE.to_string()),
                    ],
                    token,
                )
                .await?;
            offset += page.items.len();
            let before = likes.len();
            for id in page.items.iter().copied() {
                likes.insert(user(id)?);
            }
            let total = page.count.unwrap_or(0) as usize;
            if page.items.is_empty()
                || likes.len() == before
                || offset >= total
                || offset >= MAX_PER_POST
            {
                let complete = likes.len() == total;
                return Ok((likes, complete));
            }
        }
    }

    async fn comments(
        &self,
        owner: i64,
        post: i64,
        token: &Secret,
    ) -> Result<(BTreeMap<String, String>, bool), ConnectorError> {
        let mut comments = BTreeMap::new();
        let mut offset = 0usize;
        loop {
            let page: Comments = self
                .call(
                    "wall.getComments",
                    &[
                        ("owner_id", owner.to_string()),
                        ("post_id", post.to_string()),
                        ("offset", offset.to_string()),
                        ("count", COMMENTS_PAGE.to_string()),
                    ],
                    token,
                )
                .await?;
            offset += page.items.len();
            for c in &page.items {
                // A deleted comment stays in the thread as a stub.
                if c.deleted != Some(true) && c.from_id > 0 {
                    comments.insert(user(c.id)?, user(c.from_id)?);
                }
            }
            let total = page.count.unwrap_or(0) as usize;
            if page.items.is_empty() || offset >= total || offset >= MAX_PER_POST {
                // Complete: the thread read to VK's count (deleted stubs
                // included), not cut at the limit.
                return Ok((comments, offset >= total));
            }
        }
    }

    async fn reposts(
        &self,
        owner: i64,
        post: i64,
        token: &Secret,
    ) -> Result<(BTreeMap<String, String>, bool), ConnectorError> {
        let mut reposts = BTreeMap::new();
        let mut offset = 0usize;
        loop {
            let page: Reposts = self
                .call(
                    "wall.getReposts",
                    &[
                        ("owner_id", owner.to_string()),
                        ("post_id", post.to_string()),
                        ("offset", offset.to_string()),
                        ("count", REPOSTS_PAGE.to_string()),
                    ],
                    token,
                )
                .await?;
            offset += page.items.len();
            for r in &page.items {
                let by = r.from_id.unwrap_or(r.owner_id);
                if by > 0 {
                    reposts.insert(format!("{}_{}", r.owner_id, r.id), user(by)?);
                }
            }
            // wall.getReposts gives no total: a short page is the last.
            if page.items.len() < REPOSTS_PAGE || offset >= MAX_PER_POST {
                return Ok((reposts, page.items.len() < REPOSTS_PAGE));
            }
        }
    }

    async fn observe_group(
        &self,
        settings: &Settings,
        token: &Secret,
    ) -> Result<Observation, ConnectorError> {
        let group = &settings.key.group_id;
        let (members, members_complete) = self.members(group, token).await?;
        let mut wall = vec![("count", settings.recent_posts.min(100).to_string())];
        // A numeric id is the group's (a wall's owner is its negation);
        // anything else a screen name (ids are checked positive).
        match group.parse::<i64>().ok().and_then(i64::checked_neg) {
            Some(owner) if owner < 0 => wall.push(("owner_id", owner.to_string())),
            _ => wall.push(("domain", group.clone())),
        }
        let posts: Posts = self.call("wall.get", &wall, token).await?;
        let mut observed = BTreeMap::new();
        for p in posts.items.iter().take(settings.recent_posts as usize) {
            // A post VK will not show (deleted, hidden: 15, or any failure
            // but a rate limit) is skipped: its snapshot stays, nothing is
            // removed, and the group stays enabled — only the group-level
            // calls above disable it.
            let seen = match self.post(p, token).await {
                Ok(seen) => seen,
                Err(e @ (ConnectorError::RateLimited(_) | ConnectorError::DailyLimit(_))) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::info!(group = %settings.key, post = p.id, error = %e, "post skipped");
                    continue;
                }
            };
            observed.insert(user(p.id)?, seen);
        }
        Ok(Observation {
            members,
            members_complete,
            posts: observed,
        })
    }

    async fn post(&self, p: &Post, token: &Secret) -> Result<PostObservation, ConnectorError> {
        let (likes, all_likes) = self.likes(p.owner_id, p.id, token).await?;
        let (comments, all_comments) = self.comments(p.owner_id, p.id, token).await?;
        let (reposts, all_reposts) = self.reposts(p.owner_id, p.id, token).await?;
        Ok(PostObservation {
            date: p.date.and_then(|d| chrono::DateTime::from_timestamp(d, 0)),
            complete: all_likes && all_comments && all_reposts,
            likes,
            comments,
            reposts,
        })
    }
}

impl Connector for Vk {
    fn observe<'a>(
        &'a self,
        settings: &'a Settings,
        token: &'a Secret,
    ) -> BoxFuture<'a, Result<Observation, ConnectorError>> {
        self.observe_group(settings, token).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_over_https_or_to_this_machine_only() {
        for ok in [
            DEFAULT_BASE_URL,
            "http://127.0.0.1:8080/method/",
            "http://localhost/method/",
            "http://[::1]:80/method/",
        ] {
            assert_eq!(check_base_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://api.vk.com/method/",
            "http://10.0.0.1/method/",
            "http://127.0.0.1.example.com/method/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_codes_are_classified() {
        for code in [6, 9] {
            assert!(
                matches!(classify(code, "slow down"), ConnectorError::RateLimited(r) if r == format!("VK error {code}: slow down"))
            );
        }
        assert!(matches!(
            classify(29, "Rate limit reached"),
            ConnectorError::DailyLimit(_)
        ));
        for code in [5, 15, 203] {
            assert!(matches!(classify(code, "no"), ConnectorError::Refused(_)));
        }
        assert!(matches!(
            classify(100, "bad param"),
            ConnectorError::Failed(_)
        ));
        let long = classify(5, &"x\n".repeat(500));
        assert!(long.reason().len() < 220 && !long.reason().contains('\n'));
    }
}
