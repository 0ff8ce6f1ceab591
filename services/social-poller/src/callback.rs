//! VK's Callback API: a group pushes its events instead of (or besides)
//! being polled. `POST /vk/callback` with VK's JSON: `confirmation` is
//! answered with the group's confirmation string; every other event must
//! carry the group's `secret` (compared in constant time), is applied once
//! per `event_id` (VK redelivers until it reads `ok`) through the same
//! snapshot as polling — so a change both pushed and polled counts once —
//! and is answered `ok`. Handled: `group_join`, `group_leave`,
//! `wall_reply_new`, `wall_reply_delete`, `like_add`, `like_remove` (on
//! posts), `wall_repost`; other types are answered `ok` and ignored.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use kit::log::EventLog;
use kit::projection::ProjectionHandle;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::app::groups::Groups;
use crate::domain::activity::{GroupKey, Network};
use crate::domain::group::{Change, Settings};

/// Path of the receiver.
pub const PATH: &str = "/vk/callback";
/// Largest body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest `event_id` accepted.
pub const MAX_EVENT_ID: usize = 64;

/// Most requests handled at once; more are answered 503 (VK delivers
/// again).
pub const MAX_CONCURRENT: usize = 64;

/// A group's settings, looked up without loading its aggregate.
pub type SettingsOf = Arc<dyn Fn(GroupKey) -> BoxFuture<'static, Option<Settings>> + Send + Sync>;

/// Settings from the `group_settings` projection, waiting briefly for it
/// to catch up with the log when a group is not found (just connected).
pub fn settings_from(handle: ProjectionHandle, log: Arc<EventLog>) -> SettingsOf {
    Arc::new(move |key: GroupKey| {
        let (handle, log) = (handle.clone(), Arc::clone(&log));
        async move {
            let read = |h: &ProjectionHandle| {
                crate::projections::settings::get(h.tree(), &key).unwrap_or_else(|e| {
                    tracing::error!(group = %key, error = %e, "group settings unreadable");
                    None
                })
            };
            if let Some(s) = read(&handle) {
                return Some(s);
            }
            handle.wait_for(log.head(), Duration::from_secs(1)).await;
            read(&handle)
        }
        .boxed()
    })
}

#[derive(Clone)]
struct Receiver {
    groups: Arc<Groups>,
    settings_of: SettingsOf,
}

/// The receiver's routes.
pub fn router(groups: Arc<Groups>, settings_of: SettingsOf) -> Router {
    router_with(groups, settings_of, MAX_CONCURRENT)
}

/// [`router`] handling at most `concurrent` requests at once.
pub fn router_with(groups: Arc<Groups>, settings_of: SettingsOf, concurrent: usize) -> Router {
    let permits = Arc::new(Semaphore::new(concurrent));
    Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(permits, limit))
        .with_state(Receiver {
            groups,
            settings_of,
        })
}

/// Before the body is read: a permit, or 503.
async fn limit(State(permits): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    let Ok(_permit) = permits.try_acquire_owned() else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    };
    next.run(request).await
}

type Answer = (StatusCode, String);

fn answer(code: StatusCode, text: &str) -> Answer {
    (code, text.to_owned())
}

fn id(v: &Value) -> Option<i64> {
    v.as_i64()
}

/// The change an event of type `kind` with `object` makes in group
/// `group_id`; `None` for a type (or object) that changes nothing watched.
pub fn change_of(kind: &str, object: &Value, group_id: i64) -> Option<Change> {
    let user = |field: &str| id(&object[field]).filter(|u| *u > 0).map(|u| u.to_string());
    let post = |field: &str| id(&object[field]).map(|p| p.to_string());
    match kind {
        "group_join" => Some(Change::Join {
            user: user("user_id")?,
        }),
        "group_leave" => Some(Change::Leave {
            user: user("user_id")?,
        }),
        "like_add" | "like_remove" => {
            let on_our_post = object["object_type"].as_str() == Some("post")
                && id(&object["object_owner_id"]) == Some(-group_id);
            if !on_our_post {
                return None;
            }
            let (post, user) = (post("object_id")?, user("liker_id")?);
            Some(if kind == "like_add" {
                Change::Like { post, user }
            } else {
                Change::Unlike { post, user }
            })
        }
        "wall_reply_new" => Some(Change::Comment {
            post: post("post_id")?,
            comment: post("id")?,
            user: user("from_id")?,
        }),
        "wall_reply_delete" => Some(Change::CommentDelete {
            post: post("post_id")?,
            comment: post("id")?,
        }),
        "wall_repost" => {
            let original = &object["copy_history"][0];
            if id(&original["owner_id"]) != Some(-group_id) {
                return None;
            }
            let owner = id(&object["owner_id"])?;
            Some(Change::Repost {
                post: id(&original["id"])?.to_string(),
                repost: format!("{owner}_{}", id(&object["id"])?),
                user: user("from_id").or_else(|| user("owner_id"))?,
            })
        }
        _ => None,
    }
}

async fn receive(State(receiver): State<Receiver>, body: Bytes) -> Answer {
    let groups = &receiver.groups;
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "not JSON");
    };
    let Some(group_id) = id(&event["group_id"]).filter(|g| *g > 0) else {
        return answer(StatusCode::BAD_REQUEST, "group_id is required");
    };
    let key = GroupKey {
        network: Network::Vk,
        group_id: group_id.to_string(),
    };
    // The settings alone: the group's aggregate is loaded only for an
    // authenticated change.
    let Some(settings) = (receiver.settings_of)(key.clone()).await else {
        return answer(StatusCode::NOT_FOUND, "unknown group");
    };
    let Some(secret_ref) = settings.callback_secret_ref else {
        return answer(StatusCode::FORBIDDEN, "the group does not push");
    };
    let kind = event["type"].as_str().unwrap_or_default();
    if kind == "confirmation" {
        return (StatusCode::OK, settings.callback_confirmation);
    }
    let expected = match groups.secrets().get(&secret_ref) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(group = %key, error = %e, "callback secret missing");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "not configured");
        }
    };
    let given = event["secret"].as_str().unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes())) {
        return answer(StatusCode::FORBIDDEN, "bad secret");
    }
    let event_id = event["event_id"].as_str().unwrap_or_default();
    if event_id.is_empty()
        || event_id.len() > MAX_EVENT_ID
        || !event_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return answer(StatusCode::BAD_REQUEST, "event_id is required");
    }
    let Some(change) = change_of(kind, &event["object"], group_id) else {
        return answer(StatusCode::OK, "ok");
    };
    match groups.push(&key, change, event_id).await {
        Ok(_) => answer(StatusCode::OK, "ok"),
        Err(e) => {
            // Anything but `ok` makes VK deliver the event again.
            tracing::warn!(group = %key, error = %e, "callback event not applied; VK retries");
            answer(StatusCode::SERVICE_UNAVAILABLE, "retry")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vk_objects_become_changes() {
        let g = 42;
        assert_eq!(
            change_of("group_join", &json!({"user_id": 7, "join_type": "join"}), g),
            Some(Change::Join { user: "7".into() })
        );
        assert_eq!(
            change_of(
                "like_add",
                &json!({"liker_id": 7, "object_type": "post", "object_owner_id": -42, "object_id": 3}),
                g
            ),
            Some(Change::Like {
                post: "3".into(),
                user: "7".into()
            })
        );
        assert_eq!(
            change_of(
                "like_add",
                &json!({"liker_id": 7, "object_type": "photo", "object_owner_id": -42, "object_id": 3}),
                g
            ),
            None
        );
        assert_eq!(
            change_of(
                "wall_repost",
                &json!({"id": 501, "owner_id": 7, "from_id": 7, "copy_history": [{"id": 3, "owner_id": -42}]}),
                g
            ),
            Some(Change::Repost {
                post: "3".into(),
                repost: "7_501".into(),
                user: "7".into()
            })
        );
        assert_eq!(
            change_of(
                "wall_reply_delete",
                &json!({"id": 9, "post_id": 3, "owner_id": -42, "deleter_id": 7}),
                g
            ),
            Some(Change::CommentDelete {
                post: "3".into(),
                comment: "9".into()
            })
        );
        assert_eq!(change_of("message_new", &json!({}), g), None);
    }
}
