//! Topology settings overridden from the environment, as a service's unit file sets
//! them (`Environment=VIGIL_SOURCES__WIRE__NAME=eth1`).
//!
//! `VIGIL_<KEY>__<KEY>…=value` sets the topology file's key path, each key lowercased:
//! `VIGIL_SOURCES__WIRE__NAME=eth1` is `[sources.wire] name = "eth1"`,
//! `VIGIL_STORE__DIR=/data` is `[store] dir`, `VIGIL_HTTP__LISTEN=0.0.0.0:9187` is
//! `[http] listen`, `VIGIL_BATCH__MAX_MS=200` is `[batch] max_ms`. A variable of one key
//! sets a top-level setting that is a plain value: `VIGIL_SENSOR`,
//! `VIGIL_CHANNEL_CAPACITY`, `VIGIL_UNTIL_IDLE_SECS` (so `VIGIL_STORE`, `VIGIL_TOKEN`,
//! `VIGIL_MODELS` keep their own meanings). A value that reads as TOML (`200`, `true`,
//! `["a", "b"]`, `"text"`) is that value, anything else is text. Overrides are applied
//! to the file before it is checked, so a wrong key or type is refused naming it.

use toml::{Table, Value};

/// The prefix of every override.
pub const PREFIX: &str = "VIGIL_";
/// The top-level settings a one-key variable may set.
const TOP_LEVEL: [&str; 3] = ["sensor", "channel_capacity", "until_idle_secs"];

/// The overrides among `vars`: (variable, key path, value), in variable order.
pub fn overrides(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, Vec<String>, Value)> {
    let mut out: Vec<(String, Vec<String>, Value)> = vars
        .into_iter()
        .filter_map(|(name, raw)| {
            let rest = name.strip_prefix(PREFIX)?;
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let ok = path.iter().all(|k| !k.is_empty())
                && (path.len() > 1 || TOP_LEVEL.contains(&path[0].as_str()));
            ok.then(|| (name.clone(), path, parse_value(&raw)))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `raw` as a TOML value when it reads as one, else as text.
fn parse_value(raw: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

/// Apply the overrides of `vars` to `table`; returns the variables applied. A path
/// through a key that is not a table is refused, naming the variable.
pub fn apply(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Vec<String>> {
    let mut applied = Vec::new();
    for (name, path, value) in overrides(vars) {
        let (last, parents) = path.split_last().expect("at least one key");
        let mut at = &mut *table;
        for (i, key) in parents.iter().enumerate() {
            let next = at.entry(key.clone()).or_insert_with(|| Value::Table(Table::new()));
            at = next.as_table_mut().ok_or_else(|| {
                anyhow::anyhow!("{name}: `{}` is not a table of settings", path[..=i].join("."))
            })?;
        }
        at.insert(last.clone(), value);
        applied.push(name);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nested_keys_typed_values_and_names_left_alone() {
        let mut t: Table =
            toml::from_str("[sources.wire]\ntype = \"interface\"\nname = \"eth0\"\n").unwrap();
        let applied = apply(
            &mut t,
            vars(&[
                ("VIGIL_SOURCES__WIRE__NAME", "eth1"),
                ("VIGIL_BATCH__MAX_MS", "200"),
                ("VIGIL_SENSOR", "s2"),
                ("VIGIL_STORE", "/elsewhere"),
                ("VIGIL_TOKEN", "secret"),
                ("VIGIL_SINKS__S__INPUTS", "[\"a\", \"b\"]"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(applied.len(), 4, "{applied:?}");
        assert_eq!(t["sources"]["wire"]["name"].as_str(), Some("eth1"));
        assert_eq!(t["batch"]["max_ms"].as_integer(), Some(200));
        assert_eq!(t["sensor"].as_str(), Some("s2"));
        assert_eq!(t["sinks"]["s"]["inputs"].as_array().map(Vec::len), Some(2));
        assert!(t.get("store").is_none() && t.get("token").is_none());
        let e = apply(&mut t, vars(&[("VIGIL_SENSOR__X", "1")])).unwrap_err();
        assert!(e.to_string().contains("VIGIL_SENSOR__X: `sensor` is not a table"), "{e}");
    }
}
