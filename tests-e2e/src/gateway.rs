//! The real `gateway` binary in front of a [`World`]'s services: started on
//! free ports with one partner device, and an HTTP client speaking JSON or
//! SOAP to it.

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::harness::{ServiceProcess, ServiceSpec, binary_path, eventually, free_port};
use crate::purchases::World;

/// The API key of the one partner device the gateway knows.
pub const DEVICE_KEY: &str = "e2e-device-key-0123456789abcdef0123456789";
/// The API key of a device of another partner (`other-shop`).
pub const OTHER_DEVICE_KEY: &str = "e2e-other-device-key-0123456789abcdef012";
/// The API key of the one operator the gateway knows.
pub const OPERATOR_KEY: &str = "e2e-operator-key-0123456789abcdef01234567";

fn sha256(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// A running gateway.
pub struct Gateway {
    /// The process.
    pub process: ServiceProcess,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// `host:port` of its metrics.
    pub metrics: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// An HTTP answer: status, `Retry-After` and the body as JSON (or text).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
    /// The body as text.
    pub text: String,
    /// Content type.
    pub content_type: String,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl Gateway {
    /// Starts the gateway in front of `w` with one partner device (partner
    /// `shop`, location `web`, named `eshop-1`), one of another partner
    /// (`other-till`) and one operator, devices' tokens enabled, and waits
    /// until it answers.
    pub async fn start(w: &World) -> Self {
        Self::start_with(w, &format!("http://127.0.0.1:{}", free_port())).await
    }

    /// [`Gateway::start`] with the certificates service at `certificates_url`.
    pub async fn start_with(w: &World, certificates_url: &str) -> Self {
        Self::start_with_args(w, certificates_url, &["--drain-secs", "0"]).await
    }

    /// [`Gateway::start_with`] with `extra` flags (after the defaults:
    /// loopback is a trusted proxy, so `X-Forwarded-For` names the client).
    pub async fn start_with_args(w: &World, certificates_url: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("api-keys.toml");
        std::fs::write(
            &keys,
            format!(
                "[[device]]\nname = \"eshop-1\"\nkey_sha256 = \"{}\"\npartner_id = \"shop\"\nlocation_id = \"web\"\n\
                 [[device]]\nname = \"other-till\"\nkey_sha256 = \"{}\"\npartner_id = \"other-shop\"\n\
                 [[operator]]\nname = \"back-office\"\nkey_sha256 = \"{}\"\n",
                sha256(DEVICE_KEY),
                sha256(OTHER_DEVICE_KEY),
                sha256(OPERATOR_KEY)
            ),
        )
        .unwrap();
        let token_key = dir.path().join("device-token.key");
        std::fs::write(&token_key, format!("e2e-{}", uuid::Uuid::new_v4().simple())).unwrap();
        let (http_port, metrics_port) = (free_port(), free_port());
        let spec = ServiceSpec::new("gateway", binary_path("gateway"))
            .args(["--http-addr", &format!("127.0.0.1:{http_port}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args([
                "--identity-url",
                &format!("http://127.0.0.1:{}", w.identity.grpc_port),
            ])
            .args(["--ledger-url", &w.ledger.url()])
            .args([
                "--purchases-url",
                &format!("http://127.0.0.1:{}", w.purchases.grpc_port),
            ])
            .args(["--certificates-url", certificates_url])
            .args(["--api-keys-file", keys.to_str().unwrap()])
            .args(["--device-token-key-file", token_key.to_str().unwrap()])
            .args(["--trusted-proxies", "127.0.0.1"])
            .args(extra.iter().copied())
            .env("RUST_LIB_BACKTRACE", "0");
        let process = ServiceProcess::start(spec).await.unwrap();
        let gateway = Self {
            process,
            base: format!("http://127.0.0.1:{http_port}"),
            metrics: format!("127.0.0.1:{metrics_port}"),
            http: reqwest::Client::new(),
            _dir: dir,
        };
        let ready = format!("{}/health/ready", gateway.base);
        eventually(
            std::time::Duration::from_secs(30),
            "the gateway answers",
            || {
                let (http, ready) = (gateway.http.clone(), ready.clone());
                async move {
                    http.get(&ready)
                        .send()
                        .await
                        .ok()
                        .filter(|r| r.status().is_success())
                }
            },
        )
        .await;
        gateway
    }

    async fn answer(r: reqwest::RequestBuilder) -> Answer {
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            json,
            text,
            content_type,
            retry_after,
        }
    }

    /// POSTs `body` as JSON to `path` as the partner device.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_with(path, body, &[("x-api-key", DEVICE_KEY)])
            .await
    }

    /// POSTs `body` as JSON to `path` with `headers`.
    pub async fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::answer(r).await
    }

    /// POSTs raw `body` with `content_type` and `headers`.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_owned());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::answer(r).await
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    /// GETs `path` with `headers`.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut r = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::answer(r).await
    }

    /// PUTs an empty body to `path` with `headers`.
    pub async fn put_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut r = self.http.put(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::answer(r).await
    }
}

/// A JSON number written as the client writes it (`"76.5"` → `76.5`).
pub fn number(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON number")
}

/// The seed's cheque as JSON: one line of `price`, till `discount`, `amount`.
pub fn seed_cheque(amount: &str, discount: &str, price: &str) -> Value {
    let (amount, discount, price) = (number(amount), number(discount), number(price));
    json!({
        "number": "string",
        "date": "2019-04-09T07:24:26.628Z",
        "lines": [{
            "position": 1,
            "amount": amount,
            "goodsId": "0036961",
            "barcode": "8765653477",
            "quantity": 1,
            "cashback": 0,
            "discount": discount,
            "name": "Товар100",
            "price": price,
            "correction": 0
        }]
    })
}

/// A processing body's step fields: the seed's date and cashier, the card.
pub fn step(operation: &str, card: &str) -> Value {
    json!({
        "operationId": operation,
        "operationDate": "2019-04-09T07:24:26.628Z",
        "cashier": "string",
        "identifier": {"type": "Card", "value": card},
    })
}

/// `base` with the fields of `extra` added (both JSON objects).
pub fn with(mut base: Value, extra: Value) -> Value {
    let (Value::Object(b), Value::Object(e)) = (&mut base, extra) else {
        panic!("objects")
    };
    b.extend(e);
    base
}

/// `data[0]` of a successful processing answer (HTTP 200, Success, Ok).
pub fn success(a: &Answer) -> &Value {
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["result"]["state"], "Success", "{}", a.text);
    let data = &a.json["data"][0];
    assert_eq!(data["code"], "Ok", "{}", a.text);
    data
}

/// `data` of a successful envelope answer (HTTP 200, state Success).
pub fn ok(a: &Answer) -> &Value {
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["result"]["state"], "Success", "{}", a.text);
    &a.json["data"]
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Answers for the questionnaire `nodes` (the seed's JSON): a name for
/// text, a birth date for dates, the first option of choices.
pub fn answers_for(nodes: &Value, out: &mut Vec<Value>) {
    for n in nodes.as_array().into_iter().flatten() {
        if n["nodeType"] == "Question" {
            let id = n["id"].clone();
            match n["fieldType"].as_str().unwrap_or_default() {
                "Radio" | "Checkbox" => {
                    let option = n["children"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["nodeType"] == "Answer")
                        .unwrap();
                    out.push(
                        json!({"groupID": id, "id": option["id"], "value": null, "selected": true}),
                    );
                }
                "Date" => out.push(
                    json!({"groupID": null, "id": id, "value": "1990-05-01", "selected": false}),
                ),
                "Number" => {
                    out.push(json!({"groupID": null, "id": id, "value": "42", "selected": false}))
                }
                "Boolean" => {
                    out.push(json!({"groupID": null, "id": id, "value": "true", "selected": false}))
                }
                _ => out
                    .push(json!({"groupID": null, "id": id, "value": "Иванов", "selected": false})),
            }
        }
        answers_for(&n["children"], out);
    }
}
