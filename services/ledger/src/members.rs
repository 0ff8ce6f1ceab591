//! Resolving a batch line's `memberNo` (a card number or a member id) to
//! the member id accounts are kept under.
//!
//! In production the identity service answers ([`IdentityDirectory`]:
//! `MemberService.ResolveMembers` over a lazily connected channel, in calls
//! of at most [`MAX_PER_CALL`] numbers, behind a bounded cache of positive
//! answers). [`MemberNoIsMemberId`] takes `memberNo` as the member id
//! itself (`--member-directory member-id`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use loyalty_proto::identity::v1 as identity;
use loyalty_proto::identity::v1::member_service_client::MemberServiceClient;
use tonic::transport::Channel;

/// Most `memberNo`s identity resolves in one `ResolveMembers` call.
pub const MAX_PER_CALL: usize = 10_000;
/// How long one identity call may take before it counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Looks members up by card or member number.
#[tonic::async_trait]
pub trait MemberDirectory: Send + Sync + 'static {
    /// The member ids of `member_nos`, one per number and in the same
    /// order: `None` where nobody has that number. An error means the
    /// directory could not answer (unreachable, or a malformed answer): the
    /// caller may retry later; there is no partial answer.
    async fn resolve_many(&self, member_nos: &[String]) -> anyhow::Result<Vec<Option<String>>>;

    /// The member id for one `member_no`, or `None` when nobody has it.
    async fn resolve(&self, member_no: &str) -> anyhow::Result<Option<String>> {
        let mut answer = self.resolve_many(&[member_no.to_owned()]).await?;
        anyhow::ensure!(
            answer.len() == 1,
            "directory gave {} answers for 1",
            answer.len()
        );
        Ok(answer.pop().flatten())
    }
}

/// Takes `memberNo` as the member id itself (no lookup at all). For
/// deployments without the identity service, and for the ledger's own tests.
pub struct MemberNoIsMemberId;

#[tonic::async_trait]
impl MemberDirectory for MemberNoIsMemberId {
    async fn resolve_many(&self, member_nos: &[String]) -> anyhow::Result<Vec<Option<String>>> {
        Ok(member_nos.iter().cloned().map(Some).collect())
    }
}

/// The identity service's `MemberService.ResolveMembers`, one call per
/// [`MemberDirectory::resolve_many`] (callers keep to [`MAX_PER_CALL`];
/// [`CachedDirectory`] does).
pub struct IdentityClient {
    client: MemberServiceClient<Channel>,
    url: String,
    token: kit::auth::ServiceToken,
}

impl IdentityClient {
    /// A client of the identity service at `url` (`http://host:port`). The
    /// channel connects lazily, on the first call, and reconnects as needed:
    /// the ledger starts and serves while identity is down.
    pub fn connect_lazy(url: &str, token: kit::auth::ServiceToken) -> anyhow::Result<Self> {
        let channel = kit::service::lazy_channel(url, CALL_TIMEOUT)?;
        Ok(Self {
            client: MemberServiceClient::new(channel),
            url: url.to_owned(),
            token,
        })
    }
}

#[tonic::async_trait]
impl MemberDirectory for IdentityClient {
    async fn resolve_many(&self, member_nos: &[String]) -> anyhow::Result<Vec<Option<String>>> {
        anyhow::ensure!(
            member_nos.len() <= MAX_PER_CALL,
            "{} memberNos in one call; identity takes at most {MAX_PER_CALL}",
            member_nos.len()
        );
        if member_nos.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = tonic::Request::new(identity::ResolveMembersRequest {
            member_nos: member_nos.to_vec(),
        });
        self.token.attach(&mut request);
        let answer = self
            .client
            .clone()
            .resolve_members(request)
            .await
            .map_err(|status| {
                if status.code() == tonic::Code::Unauthenticated {
                    // A setup mistake, not an outage: say so where operators look.
                    tracing::error!(
                        identity = %self.url,
                        "identity refused the ledger's service token: check --service-token-file"
                    );
                }
                anyhow::anyhow!(
                    "identity at {} did not resolve memberNos: {:?}: {}",
                    self.url,
                    status.code(),
                    status.message()
                )
            })?
            .into_inner();
        anyhow::ensure!(
            answer.members.len() == member_nos.len(),
            "identity answered {} entries for {} memberNos",
            answer.members.len(),
            member_nos.len()
        );
        member_nos
            .iter()
            .zip(answer.members)
            .map(|(asked, m)| {
                anyhow::ensure!(
                    m.member_no == *asked,
                    "identity answered out of order ({:?} for {asked:?})",
                    m.member_no
                );
                Ok((m.found && !m.member_id.is_empty()).then_some(m.member_id))
            })
            .collect()
    }
}

/// A bounded map of `memberNo` → member id; the oldest entry goes first
/// when it is full. Only positive answers are kept: a number nobody had a
/// moment ago may belong to a member registering now.
struct MemberCache {
    capacity: usize,
    entries: Mutex<CacheEntries>,
}

#[derive(Default)]
struct CacheEntries {
    ids: HashMap<String, String>,
    order: VecDeque<String>,
}

impl MemberCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    fn get(&self, member_no: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.ids.get(member_no).cloned()
    }

    fn insert(&self, member_no: &str, member_id: &str) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = entries.ids.get_mut(member_no) {
            member_id.clone_into(id);
            return;
        }
        while entries.ids.len() >= self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.ids.remove(&oldest);
        }
        entries.order.push_back(member_no.to_owned());
        entries
            .ids
            .insert(member_no.to_owned(), member_id.to_owned());
    }

    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .len()
    }
}

/// A directory in front of another one: answers what it has cached, asks
/// the inner directory only for the numbers it misses (each once, however
/// often it repeats, in calls of at most `max_per_call` numbers), and caches
/// the positive answers, up to a bounded number of entries.
pub struct CachedDirectory<D> {
    inner: D,
    cache: MemberCache,
    max_per_call: usize,
}

impl<D: MemberDirectory> CachedDirectory<D> {
    /// Caches up to `capacity` answers of `inner` (0: no caching); asks it
    /// for at most [`MAX_PER_CALL`] numbers per call.
    pub fn new(inner: D, capacity: usize) -> Self {
        Self {
            inner,
            cache: MemberCache::new(capacity),
            max_per_call: MAX_PER_CALL,
        }
    }

    /// Sets the most numbers asked of the inner directory in one call.
    pub fn with_max_per_call(mut self, max: usize) -> Self {
        self.max_per_call = max.clamp(1, MAX_PER_CALL);
        self
    }

    /// Answers held in the cache now.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

#[tonic::async_trait]
impl<D: MemberDirectory> MemberDirectory for CachedDirectory<D> {
    async fn resolve_many(&self, member_nos: &[String]) -> anyhow::Result<Vec<Option<String>>> {
        let mut known: HashMap<&str, Option<String>> = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        for no in member_nos {
            if known.contains_key(no.as_str()) {
                continue;
            }
            let cached = self.cache.get(no);
            if cached.is_none() {
                missing.push(no.clone());
            }
            known.insert(no, cached);
        }
        for part in missing.chunks(self.max_per_call) {
            let answers = self.inner.resolve_many(part).await?;
            anyhow::ensure!(
                answers.len() == part.len(),
                "directory gave {} answers for {} memberNos",
                answers.len(),
                part.len()
            );
            for (no, answer) in part.iter().zip(answers) {
                if let Some(id) = &answer {
                    self.cache.insert(no, id);
                    if let Some(slot) = known.get_mut(no.as_str()) {
                        *slot = answer;
                    }
                }
            }
        }
        Ok(member_nos
            .iter()
            .map(|no| known.get(no.as_str()).cloned().flatten())
            .collect())
    }
}

/// The identity service behind a cache: what `--member-directory identity`
/// uses.
pub type IdentityDirectory = CachedDirectory<IdentityClient>;

/// The identity service at `url` (lazily connected) behind a cache of up to
/// `cache_capacity` answers.
pub fn identity_directory(
    url: &str,
    cache_capacity: usize,
    token: kit::auth::ServiceToken,
) -> anyhow::Result<IdentityDirectory> {
    Ok(CachedDirectory::new(
        IdentityClient::connect_lazy(url, token)?,
        cache_capacity,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Numbers starting with `c` are cards of member `m<rest>`; others are
    /// unknown. Records every call; fails while `down` is set.
    #[derive(Default)]
    struct Directory {
        calls: Mutex<Vec<Vec<String>>>,
        down: std::sync::atomic::AtomicBool,
    }

    #[tonic::async_trait]
    impl MemberDirectory for Arc<Directory> {
        async fn resolve_many(&self, nos: &[String]) -> anyhow::Result<Vec<Option<String>>> {
            self.calls.lock().unwrap().push(nos.to_vec());
            anyhow::ensure!(!self.down.load(std::sync::atomic::Ordering::SeqCst), "down");
            Ok(nos
                .iter()
                .map(|n| n.strip_prefix('c').map(|rest| format!("m{rest}")))
                .collect())
        }
    }

    fn nos(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn calls(d: &Directory) -> Vec<Vec<String>> {
        std::mem::take(&mut *d.calls.lock().unwrap())
    }

    #[tokio::test]
    async fn answers_in_order_asks_each_miss_once_and_caches_only_positives() {
        let inner = Arc::new(Directory::default());
        let dir = CachedDirectory::new(Arc::clone(&inner), 100);
        let got = dir
            .resolve_many(&nos(&["c1", "x", "c2", "c1", "x"]))
            .await
            .unwrap();
        let want = [Some("m1"), None, Some("m2"), Some("m1"), None];
        assert_eq!(got, want.map(|w| w.map(str::to_owned)));
        assert_eq!(calls(&inner), [nos(&["c1", "x", "c2"])]);
        assert_eq!(dir.cached(), 2);
        // Cached positives are not asked again; the negative is.
        let got = dir.resolve_many(&nos(&["c2", "x", "c1"])).await.unwrap();
        assert_eq!(got, [Some("m2".into()), None, Some("m1".into())]);
        assert_eq!(calls(&inner), [nos(&["x"])]);
        // All cached: no call at all; the single-number form agrees.
        assert_eq!(dir.resolve("c1").await.unwrap().as_deref(), Some("m1"));
        assert!(calls(&inner).is_empty());
    }

    #[tokio::test]
    async fn splits_misses_into_bounded_calls() {
        let inner = Arc::new(Directory::default());
        let dir = CachedDirectory::new(Arc::clone(&inner), 100).with_max_per_call(2);
        let got = dir
            .resolve_many(&nos(&["c1", "c2", "c3", "c4", "c5"]))
            .await
            .unwrap();
        assert_eq!(got.iter().flatten().count(), 5);
        let sizes: Vec<usize> = calls(&inner).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_forgets_the_oldest_first() {
        let inner = Arc::new(Directory::default());
        let dir = CachedDirectory::new(Arc::clone(&inner), 2);
        dir.resolve_many(&nos(&["c1", "c2", "c3"])).await.unwrap();
        assert_eq!(dir.cached(), 2);
        calls(&inner);
        dir.resolve_many(&nos(&["c2", "c3"])).await.unwrap();
        assert!(calls(&inner).is_empty(), "the newest two are cached");
        dir.resolve_many(&nos(&["c1"])).await.unwrap();
        assert_eq!(calls(&inner), [nos(&["c1"])], "the oldest was evicted");
        let uncached = CachedDirectory::new(Arc::clone(&inner), 0);
        uncached.resolve_many(&nos(&["c1"])).await.unwrap();
        uncached.resolve_many(&nos(&["c1"])).await.unwrap();
        assert_eq!(calls(&inner).len(), 2);
        assert_eq!(uncached.cached(), 0);
    }

    #[tokio::test]
    async fn a_failure_is_an_error_and_leaves_the_cache_as_it_was() {
        let inner = Arc::new(Directory::default());
        let dir = CachedDirectory::new(Arc::clone(&inner), 10);
        dir.resolve_many(&nos(&["c1"])).await.unwrap();
        inner.down.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(dir.resolve_many(&nos(&["c1", "c2"])).await.is_err());
        assert_eq!(dir.cached(), 1);
        // What is cached still answers without the inner directory.
        assert_eq!(dir.resolve("c1").await.unwrap().as_deref(), Some("m1"));
    }

    #[tokio::test]
    async fn identity_unreachable_is_an_error_not_an_unknown_member() {
        // A port nobody listens on: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = identity_directory(&format!("http://127.0.0.1:{port}"), 10, Default::default())
            .unwrap();
        let error = dir.resolve_many(&nos(&["c1"])).await.unwrap_err();
        assert!(format!("{error:#}").contains("identity at"), "{error:#}");
        assert_eq!(dir.cached(), 0);
        assert!(identity_directory("not a url", 10, Default::default()).is_err());
        assert!(
            IdentityClient::connect_lazy("http://127.0.0.1:1", Default::default())
                .unwrap()
                .resolve_many(&vec![String::new(); MAX_PER_CALL + 1])
                .await
                .is_err()
        );
    }
}
