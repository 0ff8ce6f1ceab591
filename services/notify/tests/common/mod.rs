//! Stand-ins for the servers the senders talk to: a small SMTP server and an
//! HTTP SMS provider, both on 127.0.0.1 with an OS-chosen port.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What one SMTP connection carried.
#[derive(Debug, Default, Clone)]
pub struct SmtpSession {
    /// Every command line, without CRLF, in order (DATA content excluded).
    pub commands: Vec<String>,
    /// The MAIL FROM argument.
    pub mail_from: Option<String>,
    /// The RCPT TO arguments.
    pub rcpt_to: Vec<String>,
    /// The message content (dot-unstuffed, without the final `.` line).
    pub data: Option<String>,
}

/// Starts an SMTP stand-in. `rcpt_reply` is the reply line to RCPT TO (e.g.
/// `250 OK`, `550 5.1.1 no such user`, `451 4.3.0 try later`). Each finished
/// connection's session arrives on the returned channel.
pub async fn smtp_stand_in(
    rcpt_reply: &'static str,
) -> (SocketAddr, mpsc::UnboundedReceiver<SmtpSession>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let session = smtp_session(stream, rcpt_reply).await;
                let _ = tx.send(session);
            });
        }
    });
    (addr, rx)
}

async fn smtp_session(stream: TcpStream, rcpt_reply: &str) -> SmtpSession {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut session = SmtpSession::default();
    let reply = |line: String| format!("{line}\r\n").into_bytes();
    if write
        .write_all(&reply("220 stand-in ESMTP ready".into()))
        .await
        .is_err()
    {
        return session;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return session,
            Ok(_) => {}
        }
        let command = line.trim_end_matches(['\r', '\n']).to_owned();
        session.commands.push(command.clone());
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" | "HELO" => "250 stand-in greets you".to_owned(),
            "MAIL" => {
                session.mail_from = Some(command[5..].trim().to_owned());
                "250 2.1.0 OK".to_owned()
            }
            "RCPT" => {
                session.rcpt_to.push(command[5..].trim().to_owned());
                rcpt_reply.to_owned()
            }
            "DATA" => {
                if write
                    .write_all(&reply("354 end with <CRLF>.<CRLF>".into()))
                    .await
                    .is_err()
                {
                    return session;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return session,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // Undo dot-stuffing (RFC 5321 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                session.data = Some(data);
                "250 2.0.0 queued".to_owned()
            }
            "QUIT" => {
                let _ = write.write_all(&reply("221 2.0.0 bye".into())).await;
                return session;
            }
            _ => "250 OK".to_owned(),
        };
        if write.write_all(&reply(answer)).await.is_err() {
            return session;
        }
    }
}

/// One request the SMS provider stand-in received.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw body (`/sms`), or the decoded form as JSON (`/form`).
    pub body: String,
}

#[derive(Clone)]
struct ProviderState {
    status: StatusCode,
    tx: mpsc::UnboundedSender<ProviderRequest>,
}

/// Starts an HTTP SMS provider stand-in answering every request with
/// `status`: `POST /sms` captures the raw body, `POST /form` decodes a form
/// body, `POST /hang` never answers. Returns the base URL
/// (`http://127.0.0.1:PORT`) and the captured requests.
pub async fn sms_provider(
    status: StatusCode,
) -> (String, mpsc::UnboundedReceiver<ProviderRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/sms",
            post(
                |State(s): State<ProviderState>, headers: HeaderMap, body: String| async move {
                    let _ = s.tx.send(ProviderRequest { headers, body });
                    s.status
                },
            ),
        )
        .route(
            "/form",
            post(
                |State(s): State<ProviderState>,
                 headers: HeaderMap,
                 Form(form): Form<HashMap<String, String>>| async move {
                    let body = serde_json::to_string(&form).unwrap();
                    let _ = s.tx.send(ProviderRequest { headers, body });
                    s.status
                },
            ),
        )
        .route(
            "/hang",
            post(
                |State(s): State<ProviderState>, headers: HeaderMap, body: String| async move {
                    let _ = s.tx.send(ProviderRequest { headers, body });
                    std::future::pending::<StatusCode>().await
                },
            ),
        )
        .with_state(ProviderState { status, tx });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), rx)
}

/// An address on 127.0.0.1 where nothing listens (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
