//! Reading a service's Prometheus `/metrics` endpoint over plain HTTP/1.0.

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Fetches `/metrics` from `addr` (host:port) and returns the body.
pub async fn scrape(addr: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to metrics at {addr}"))?;
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    Ok(body.to_owned())
}

/// The value of the first sample of metric `name` (exact name, no labels).
pub fn value(body: &str, name: &str) -> Option<u64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse::<f64>().ok().map(|f| f as u64))?
    })
}
