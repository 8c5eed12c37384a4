//! Secrets kept out of what Vigil prints: a topology shown with `--print-config` has
//! every secret value that is written in place replaced by [`REDACTED`].
//!
//! A secret is a string under a key that names one (`token`, `*password*`, `*secret*`,
//! `*credential*`, librdkafka's `sasl.jaas.config`, `sasl.oauthbearer.config` and
//! `ssl.key.pem`) or any webhook header value. References (`env:NAME`, `file:PATH`)
//! are not secrets themselves and are shown as written, so an operator can still see
//! where a value comes from.

use toml::{Table, Value};

/// What a secret value is shown as.
pub const REDACTED: &str = "<redacted>";

/// Whether a setting called `key` (inside a table called `parent`) holds a secret.
pub fn is_secret_setting(parent: Option<&str>, key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    parent == Some("headers")
        || key == "token"
        || ["password", "secret", "credential", "api_key", "apikey"].iter().any(|w| key.contains(w))
        || ["sasl.jaas.config", "sasl.oauthbearer.config", "ssl.key.pem"].contains(&key.as_str())
}

/// `table` with every secret written in place replaced by [`REDACTED`].
pub fn redact(table: &Table) -> Table {
    redact_table(table, None)
}

fn redact_table(table: &Table, name: Option<&str>) -> Table {
    table
        .iter()
        .map(|(key, value)| {
            let shown = match value {
                Value::Table(t) => Value::Table(redact_table(t, Some(key))),
                Value::String(s) if is_secret_setting(name, key) && !is_reference(s) => {
                    Value::String(REDACTED.into())
                }
                other => other.clone(),
            };
            (key.clone(), shown)
        })
        .collect()
}

/// `env:NAME` or `file:PATH`: where a secret is read from, not the secret.
fn is_reference(value: &str) -> bool {
    value.starts_with("env:") || value.starts_with("file:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_place_are_hidden_and_references_shown() {
        let t: Table = toml::from_str(
            r#"
            [sources.k]
            librdkafka = { "sasl.password" = "hunter2", "sasl.username" = "vigil",
                           "ssl.key.password" = "env:KEY_PW", "group.id" = "g" }
            [sinks.hook]
            url = "http://127.0.0.1:1/"
            headers = { Authorization = "Bearer abc", "X-Api" = "file:/run/secrets/api" }
            [sinks.console]
            token = "tok"
            tokens_seen = 3
            "#,
        )
        .unwrap();
        let shown = toml::to_string(&redact(&t)).unwrap();
        for secret in ["hunter2", "Bearer abc", "\"tok\""] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        for kept in ["vigil", "env:KEY_PW", "file:/run/secrets/api", "\"g\"", "tokens_seen = 3"] {
            assert!(shown.contains(kept), "{kept} hidden:\n{shown}");
        }
        assert_eq!(shown.matches(REDACTED).count(), 3, "{shown}");
    }
}
