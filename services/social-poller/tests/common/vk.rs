//! A stand-in VK API on port 0: `POST /method/<name>` with form parameters,
//! answering VK's JSON shapes — `{"response": ...}` or `{"error":
//! {"error_code", "error_msg", "request_params"}}` —, paging by `offset`
//! and `count` with VK's page limits (a larger `count` is VK's error 100),
//! checking `v` and `access_token`. The test drives what the group looks
//! like and which errors come next.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::{Form, Json, Router, routing::post};
use serde_json::{Value, json};

/// One post of the group's wall.
#[derive(Clone, Default)]
pub struct Post {
    /// Its id.
    pub id: i64,
    /// Users who like it.
    pub likes: Vec<i64>,
    /// Comments: (comment id, author).
    pub comments: Vec<(i64, i64)>,
    /// Reposts: (the user's wall = owner, the repost's id there).
    pub reposts: Vec<(i64, i64)>,
    /// Published at (Unix seconds); 0: 2025-11-29 (before any test's
    /// first poll).
    pub date: i64,
}

/// What the group looks like and what VK answers next.
#[derive(Default)]
pub struct Group {
    /// Members, in VK's order.
    pub members: Vec<i64>,
    /// Posts, newest first.
    pub posts: Vec<Post>,
    /// When set, every `groups.getMembers` page answers this count and
    /// these items, whatever the offset (VK repeating itself).
    pub members_page: Option<(u64, Vec<i64>)>,
    /// Methods answering an error at every call: method → (code, message).
    pub failing: HashMap<String, (i64, String)>,
    /// Errors answered to the next calls, one each: (code, message).
    pub errors: VecDeque<(i64, String)>,
    /// Every call: method, and its parameters without the token.
    pub calls: Vec<(String, HashMap<String, String>)>,
}

/// The stand-in.
#[derive(Clone)]
pub struct FakeVk {
    /// The group (lock it to change it).
    pub group: Arc<Mutex<Group>>,
    /// `http://127.0.0.1:<port>/method/`.
    pub url: String,
    token: String,
}

fn error(code: i64, message: &str, params: &HashMap<String, String>) -> Json<Value> {
    let echoed: Vec<Value> = params
        .iter()
        .filter(|(k, _)| *k != "access_token")
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    Json(json!({"error": {"error_code": code, "error_msg": message, "request_params": echoed}}))
}

fn page<T: Clone>(
    all: &[T],
    params: &HashMap<String, String>,
    max: usize,
) -> Result<Vec<T>, String> {
    let offset: usize = params
        .get("offset")
        .map_or(Ok(0), |o| o.parse())
        .map_err(|_| "offset")?;
    let count: usize = params
        .get("count")
        .map_or(Ok(max.min(100)), |c| c.parse())
        .map_err(|_| "count")?;
    if count > max {
        return Err(format!("count must be at most {max}"));
    }
    Ok(all.iter().skip(offset).take(count).cloned().collect())
}

async fn method(
    State(vk): State<FakeVk>,
    Path(name): Path<String>,
    Form(params): Form<HashMap<String, String>>,
) -> Json<Value> {
    let mut g = vk.group.lock().unwrap();
    let mut logged = params.clone();
    logged.remove("access_token");
    g.calls.push((name.clone(), logged));
    if params.get("access_token") != Some(&vk.token) {
        return error(
            5,
            "User authorization failed: invalid access_token (4).",
            &params,
        );
    }
    if params.get("v").is_none_or(|v| v.is_empty()) {
        return error(8, "Invalid request: v is required", &params);
    }
    if let Some((code, message)) = g.failing.get(&name).cloned() {
        return error(code, &message, &params);
    }
    if let Some((code, message)) = g.errors.pop_front() {
        return error(code, &message, &params);
    }
    let post = |g: &Group| {
        let id: i64 = params
            .get("item_id")
            .or(params.get("post_id"))?
            .parse()
            .ok()?;
        g.posts.iter().find(|p| p.id == id).cloned()
    };
    let answer = match name.as_str() {
        "groups.getMembers" if g.members_page.is_some() => {
            let (count, items) = g.members_page.clone().unwrap_or_default();
            Ok(json!({"count": count, "items": items}))
        }
        "groups.getMembers" => page(&g.members, &params, 1000)
            .map(|items| json!({"count": g.members.len(), "items": items})),
        "wall.get" => page(&g.posts, &params, 100).map(|items| {
            let items: Vec<Value> = items
                .iter()
                .map(|p| {
                    json!({
                        "id": p.id, "owner_id": -42, "from_id": -42,
                        "date": if p.date == 0 { 1764400000 } else { p.date },
                        "text": "post", "comments": {"count": p.comments.len()},
                        "likes": {"count": p.likes.len()}, "reposts": {"count": p.reposts.len()}
                    })
                })
                .collect();
            json!({"count": g.posts.len(), "items": items})
        }),
        "likes.getList" if params.get("type").map(String::as_str) == Some("post") => {
            let likes = post(&g).map(|p| p.likes).unwrap_or_default();
            page(&likes, &params, 1000).map(|items| json!({"count": likes.len(), "items": items}))
        }
        "wall.getComments" => {
            let comments = post(&g).map(|p| p.comments).unwrap_or_default();
            page(&comments, &params, 100).map(|items| {
                let items: Vec<Value> = items
                    .iter()
                    .map(|(id, from)| json!({"id": id, "from_id": from, "date": 1764400000, "text": "hi", "owner_id": -42}))
                    .collect();
                json!({"count": comments.len(), "current_level_count": comments.len(), "can_post": true, "items": items})
            })
        }
        "wall.getReposts" => {
            let reposts = post(&g).map(|p| p.reposts).unwrap_or_default();
            page(&reposts, &params, 1000).map(|items| {
                let items: Vec<Value> = items
                    .iter()
                    .map(|(owner, id)| json!({"id": id, "owner_id": owner, "from_id": owner, "date": 1764400000, "copy_history": []}))
                    .collect();
                json!({"items": items, "profiles": [], "groups": []})
            })
        }
        _ => Err("Unknown method passed".to_owned()),
    };
    match answer {
        Ok(response) => Json(json!({ "response": response })),
        Err(why) => error(
            100,
            &format!("One of the parameters specified was missing or invalid: {why}"),
            &params,
        ),
    }
}

impl FakeVk {
    /// Serves the stand-in on port 0, accepting `token`.
    pub async fn start(token: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let vk = FakeVk {
            group: Arc::default(),
            url: format!("http://{}/method/", listener.local_addr().unwrap()),
            token: token.to_owned(),
        };
        let app = Router::new()
            .route("/method/{name}", post(method))
            .with_state(vk.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        vk
    }

    /// Changes the group.
    pub fn set(&self, change: impl FnOnce(&mut Group)) {
        change(&mut self.group.lock().unwrap());
    }

    /// How many calls of `method` were made so far.
    pub fn calls(&self, method: &str) -> usize {
        self.group
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(m, _)| m == method)
            .count()
    }
}
