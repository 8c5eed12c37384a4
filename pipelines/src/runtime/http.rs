//! A small HTTP listener for `/metrics` (Prometheus text format). It binds
//! 127.0.0.1 unless told otherwise and answers GET requests only.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::stats::{StatsRegistry, prometheus_text};

/// Bind `addr`; the returned listener is served by [`serve`].
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// The bound address.
pub fn local_addr(l: &TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}

/// Answer requests until the task is dropped: `GET /metrics` gets the counters,
/// anything else 404 (or 405 for other methods).
pub async fn serve(listener: TcpListener, stats: StatsRegistry) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            // Read the request head (bounded), then answer.
            while len < buf.len() {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    conn.read(&mut buf[len..]),
                )
                .await
                {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let mut parts = head.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, body, ctype) = match (method, path.split('?').next().unwrap_or("")) {
                ("GET", "/metrics") => {
                    ("200 OK", prometheus_text(&stats.snapshot()), "text/plain; version=0.0.4")
                }
                ("GET", _) => ("404 Not Found", "not found\n".to_string(), "text/plain"),
                _ => ("405 Method Not Allowed", "GET only\n".to_string(), "text/plain"),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}
