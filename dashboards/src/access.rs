//! Who may use the console: where it listens and the bearer token.
//!
//! It listens on a loopback address by default. A non-loopback address needs a bearer
//! token (`--token-file` or `VIGIL_TOKEN`), else it refuses to start; with a token, a
//! request without `Authorization: Bearer <token>` gets 401. The token is compared in
//! constant time.

use std::net::SocketAddr;

/// The bearer token in `$VIGIL_TOKEN`, when set and not empty.
pub fn env_token() -> Option<String> {
    std::env::var("VIGIL_TOKEN").ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Why the console refuses to start.
#[derive(Debug, PartialEq, Eq)]
pub enum AccessError {
    /// A non-loopback address without a token.
    OpenWithoutToken(SocketAddr),
    /// An empty token.
    EmptyToken,
}

impl std::fmt::Display for AccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccessError::OpenWithoutToken(addr) => write!(
                f,
                "refusing to serve the console on {addr}, which is not a loopback address, \
                 without a bearer token: pass --token-file FILE or set VIGIL_TOKEN (or listen \
                 on 127.0.0.1)"
            ),
            AccessError::EmptyToken => write!(f, "the bearer token is empty"),
        }
    }
}

impl std::error::Error for AccessError {}

/// The access policy of a running console.
#[derive(Debug, Clone)]
pub struct Access {
    token: Option<String>,
}

impl Access {
    /// The policy for listening on `addr` with `token`; refuses a non-loopback address
    /// without one.
    pub fn new(addr: SocketAddr, token: Option<String>) -> Result<Access, AccessError> {
        let token = token.map(|t| t.trim().to_string());
        match &token {
            Some(t) if t.is_empty() => Err(AccessError::EmptyToken),
            None if !addr.ip().is_loopback() => Err(AccessError::OpenWithoutToken(addr)),
            _ => Ok(Access { token }),
        }
    }

    /// Whether a request with this `Authorization` header value may pass.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else { return true };
        let Some(given) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        constant_time_eq(given, token.as_bytes())
    }

    /// Whether requests need a token.
    pub fn needs_token(&self) -> bool {
        self.token.is_some()
    }
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_and_the_rest_does() {
        let local: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        assert!(Access::new(local, None).unwrap().allows(None));
        let e = Access::new(open, None).unwrap_err();
        assert!(e.to_string().contains("--token-file"), "{e}");
        assert_eq!(Access::new(open, Some(" ".into())).unwrap_err(), AccessError::EmptyToken);
        let a = Access::new(open, Some("s3cret\n".into())).unwrap();
        assert!(a.allows(Some(b"Bearer s3cret")));
        for bad in [&b"Bearer s3cre"[..], b"Bearer s3cret2", b"s3cret", b"Basic s3cret"] {
            assert!(!a.allows(Some(bad)), "{}", String::from_utf8_lossy(bad));
        }
        assert!(!a.allows(None));
    }
}
