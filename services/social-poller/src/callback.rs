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

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::app::groups::Groups;
use crate::domain::activity::{GroupKey, Network};
use crate::domain::group::Change;

/// Path of the receiver.
pub const PATH: &str = "/vk/callback";
/// Largest body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest `event_id` accepted.
pub const MAX_EVENT_ID: usize = 64;

/// The receiver's routes.
pub fn router(groups: Arc<Groups>) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(groups)
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

async fn receive(State(groups): State<Arc<Groups>>, body: Bytes) -> Answer {
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
    let Ok(view) = groups.get(&key) else {
        return answer(StatusCode::NOT_FOUND, "unknown group");
    };
    let Some(settings) = view.group.settings else {
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
