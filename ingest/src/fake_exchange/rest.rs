//! The fake exchange's REST API: `GET /0/public/AssetPairs` and `GET /0/public/Trades` in
//! Kraken's shape (rendered by [`crate::source::kraken::rest`], which the client parses),
//! served from the tape's history; on command, scripted answers (429, 500, a malformed page)
//! before the real ones. A minimal HTTP/1.1 server: one request per connection,
//! answered with `Connection: close`, which is all a REST client needs.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::DateTime;
use service::shutdown::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Server;
use crate::source::kraken::rest::{self, TRADES_PAGE};

/// Longest request head read.
const MAX_HEAD: usize = 16 * 1024;

pub(super) async fn serve(server: Server, listener: TcpListener, mut shutdown: Shutdown) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.recv() => return,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "fake exchange: REST accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let server = server.clone();
        tokio::spawn(async move {
            if let Err(e) = server.rest_request(stream).await {
                tracing::debug!(error = %e, "fake exchange: REST request failed");
            }
        });
    }
}

impl Server {
    async fn rest_request(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 || head.len() > MAX_HEAD {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        let number = self.stats.rest_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let head = String::from_utf8_lossy(&head);
        let target = head
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("GET "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("");
        let scripted = self
            .stats
            .rest_script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&number);
        let (status, body) = if let Some((status, body)) = scripted {
            (format!("{status} Scripted"), body)
        } else if self.stats.rest_down.load(Ordering::Relaxed) {
            (
                "503 Service Unavailable".into(),
                rest::error_response("EService:Unavailable"),
            )
        } else {
            let (status, body) = self.route(target);
            (status.into(), body)
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    }

    /// The status and body answering `GET target`.
    fn route(&self, target: &str) -> (&'static str, String) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v)
        };
        let symbols = &self.settings.market.symbols;
        match path {
            "/0/public/AssetPairs" => ("200 OK", rest::asset_pairs_response(symbols)),
            "/0/public/Trades" => {
                // Kraken accepts the pair name or the altname.
                let pair = param("pair").unwrap_or("");
                let Some((symbol, name)) = symbols.iter().find_map(|s| {
                    let (name, altname, _) = rest::rest_names(s);
                    (pair == name || pair == altname).then_some((s, name))
                }) else {
                    return ("200 OK", rest::error_response("EQuery:Unknown asset pair"));
                };
                let since = param("since").and_then(|s| s.parse::<i64>().ok());
                let count = param("count")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(TRADES_PAGE)
                    .clamp(1, TRADES_PAGE);
                let page =
                    self.tape
                        .history(symbol, since.map(DateTime::from_timestamp_nanos), count);
                let last = match page.last() {
                    Some(t) => rest::cursor(t.trade.ts),
                    None => since.unwrap_or(0).to_string(),
                };
                let body = rest::trades_response(&name, page.iter().map(|t| &t.trade), &last);
                ("200 OK", body)
            }
            _ => (
                "404 Not Found",
                rest::error_response("EGeneral:Unknown method"),
            ),
        }
    }
}
