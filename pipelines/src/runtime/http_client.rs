//! A minimal HTTP/1.1 client for the webhook sink: one `POST` per connection
//! (`Connection: close`), the status line read back, the body tolerated (read up to
//! its `Content-Length` or the close, whatever its encoding, and bounded). Plain
//! `http://` only: TLS belongs to a terminating proxy in front of the receiver.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The response head is read up to this size at most.
const MAX_HEAD: usize = 16 << 10;

/// The response body is kept up to this size (for error messages); the rest is ignored.
const MAX_BODY: usize = 4 << 10;

/// An `http://host[:port][/path]` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The host name or address (an IPv6 address without its brackets).
    pub host: String,
    /// The port (default 80).
    pub port: u16,
    /// The path and query (default `/`).
    pub path: String,
}

impl Url {
    /// Parse an `http://` URL; `https://`, credentials in the URL and fragments are
    /// refused with the reason.
    pub fn parse(url: &str) -> anyhow::Result<Url> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") {
            bail!(
                "https is not supported: point `url` at a TLS-terminating proxy (e.g. nginx, \
                 stunnel) on http://127.0.0.1:PORT that forwards to the receiver"
            );
        }
        if !lower.starts_with("http://") {
            bail!("`{url}` is not an http:// URL");
        }
        let rest = &url["http://".len()..];
        if rest.contains('#') {
            bail!("`{url}`: a URL with a fragment (#) is not sent");
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("`{url}` contains spaces or control characters");
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            bail!("`{url}`: credentials in the URL are not supported; send them in `headers`");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) =
                v6.split_once(']').with_context(|| format!("`{url}`: unclosed `[` in the host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            bail!("`{url}` has no host");
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).with_context(|| {
                format!("`{url}`: the port `{p}` is not a number from 1 to 65535")
            })?,
            None => 80,
        };
        Ok(Url { host: host.to_string(), port, path })
    }

    /// `host:port` as the `Host` header and `connect` want it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// Whether `name` can be sent as a header name (an RFC 9110 token).
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` can be sent as a header value (visible ASCII, spaces and tabs).
pub fn valid_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The start of the body (up to 4 KiB), for messages.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `POST` `body` to `url` with `headers` (plus `Host`, `Content-Length` and
/// `Connection: close`); the connection, the request and the response head must all
/// be done within `timeout`. The body is then read for what is left of it.
pub async fn post(
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<Response> {
    let deadline = tokio::time::Instant::now() + timeout;
    let exchange = async {
        let mut conn = TcpStream::connect(url.authority())
            .await
            .with_context(|| format!("cannot connect to {}", url.authority()))?;
        conn.set_nodelay(true)?;
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            url.path,
            url.authority(),
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut msg = req.into_bytes();
        msg.extend_from_slice(body);
        conn.write_all(&msg).await.context("cannot send the request")?;
        let mut buf = Vec::with_capacity(1024);
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                bail!("the response head is over {MAX_HEAD} bytes");
            }
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await.context("cannot read the response")?;
            if n == 0 {
                bail!("the connection closed before a response");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status = status_of(&head)?;
        Ok::<_, anyhow::Error>((conn, status, content_length(&head), buf.split_off(head_end)))
    };
    let (mut conn, status, length, mut body) =
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no response within {} ms", timeout.as_millis()))??;
    // The body, bounded, within what is left of the time; its errors do not change the
    // status received.
    let want = length.unwrap_or(usize::MAX).min(MAX_BODY);
    let _ = tokio::time::timeout_at(deadline, async {
        let mut chunk = [0u8; 4096];
        while body.len() < want {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    body.truncate(want);
    Ok(Response { status, body })
}

/// The status code of a response head (`HTTP/1.x NNN reason`).
fn status_of(head: &str) -> anyhow::Result<u16> {
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("HTTP/1.") && (100..600).contains(&code) => {
            Ok(code)
        }
        _ => bail!("not an HTTP/1.x status line: `{}`", line.chars().take(80).collect::<String>()),
    }
}

/// The `Content-Length` of a response head, if it has one.
fn content_length(head: &str) -> Option<usize> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn urls_parse_and_https_is_refused() {
        let u = Url::parse("http://127.0.0.1:8080/hook?x=1").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("127.0.0.1", 8080, "/hook?x=1"));
        let u = Url::parse("http://example.org").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = Url::parse("http://[::1]:9000?q").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("::1", 9000, "/?q"));
        assert_eq!(u.authority(), "[::1]:9000");
        let e = Url::parse("https://siem.example/hook").unwrap_err().to_string();
        assert!(e.contains("TLS-terminating proxy"), "{e}");
        for bad in ["ftp://x", "http://:80/", "http://h:0/", "http://h:99999", "http://u:p@h/"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_names_and_values_are_checked() {
        assert!(valid_header_name("X-Api-Key"));
        assert!(!valid_header_name("Bad Name"));
        assert!(!valid_header_name(""));
        assert!(valid_header_value("Bearer abc.def"));
        assert!(!valid_header_value("a\r\nInjected: 1"));
    }

    /// One connection answered with `response` after the request arrived; returns
    /// the request bytes.
    async fn serve_once(response: &'static [u8]) -> (Url, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut c, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut chunk = [0u8; 1024];
            // The head, then the 2-byte body the tests send.
            while !req.windows(4).any(|w| w == b"\r\n\r\n") || !req.ends_with(b"{}") {
                let n = c.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the client closed early");
                req.extend_from_slice(&chunk[..n]);
            }
            c.write_all(response).await.unwrap();
            c.shutdown().await.unwrap();
            req
        });
        (Url::parse(&format!("http://127.0.0.1:{port}/in")).unwrap(), task)
    }

    #[tokio::test]
    async fn posts_and_reads_the_status() {
        let (url, server) =
            serve_once(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok").await;
        let headers = vec![("Idempotency-Key".to_string(), "k1".to_string())];
        let r = post(&url, &headers, b"{}", Duration::from_secs(5)).await.unwrap();
        assert_eq!(r, Response { status: 201, body: b"ok".to_vec() });
        assert!(r.success());
        let req = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(req.starts_with("POST /in HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nContent-Length: 2\r\n"), "{req}");
        assert!(req.contains("\r\nIdempotency-Key: k1\r\n"), "{req}");
        assert!(req.ends_with("\r\n\r\n{}"), "{req}");
    }

    #[tokio::test]
    async fn chunked_bodies_and_errors_are_tolerated() {
        let (url, _s) = serve_once(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n0\r\n\r\n",
        )
        .await;
        let r = post(&url, &[], b"{}", Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.status, 503);
        assert!(!r.success());
        let (url, _s) = serve_once(b"garbage\r\n\r\n").await;
        assert!(post(&url, &[], b"{}", Duration::from_secs(5)).await.is_err());
    }

    #[tokio::test]
    async fn a_silent_or_absent_receiver_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let started = std::time::Instant::now();
        let e = post(&url, &[], b"{}", Duration::from_millis(300)).await.unwrap_err();
        assert!(e.to_string().contains("no response within 300 ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
        let e = post(&url, &[], b"{}", Duration::from_secs(5)).await.unwrap_err();
        assert!(format!("{e:#}").contains("cannot connect"), "{e:#}");
    }
}
