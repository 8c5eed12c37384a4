//! Secrets (webhook headers, the console token, librdkafka passwords, `$VIGIL_TOKEN`)
//! never show in what Vigil prints or writes: `vigil run --print-config`, the run's
//! logs at debug level, its JSON summary, `vigil stats`, or any file in the store.

use std::path::Path;
use std::process::{Command, Output};

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// Values that must never be shown, each set a different way.
const HEADER_SECRET: &str = "hdr-s3cr3t-4f1c";
const ENV_SECRET: &str = "env-s3cr3t-9b2e";
const CONSOLE_SECRET: &str = "console-s3cr3t-77aa";
const SASL_SECRET: &str = "sasl-s3cr3t-0d3f";
const VIGIL_TOKEN_SECRET: &str = "vigil-token-s3cr3t-5e6d";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Flow CSV → FlowTransformer → alerts → store and a webhook that cannot be reached
/// (so the alerts stay spooled); `extra` adds settings that only `--print-config` reads.
fn topology(dir: &Path, extra: &str) -> std::path::PathBuf {
    let root = repo();
    let text = format!(
        r#"
sensor = "secrets-test"
[store]
dir = "{store}"
[sources.flows]
type = "flow_csv"
path = "{root}/samples/flows/cicids2017-sample.csv"
mapping = "cicflowmeter"
[transforms.ft]
type = "score"
model = "{root}/onnx/artifacts/flow-transformer-cicids2017"
inputs = ["flows"]
[transforms.alerts]
type = "alerts"
inputs = ["ft"]
rules = "builtin"
[sinks.store]
type = "store"
inputs = ["ft", "alerts"]
[sinks.hook]
type = "webhook"
inputs = ["alerts"]
url = "http://127.0.0.1:{port}/alerts"
timeout_ms = 200
retry_initial_ms = 50
retry_max_ms = 100
drain_secs = 1
headers = {{ Authorization = "Bearer {HEADER_SECRET}", X-Api-Key = "env:VIGIL_TEST_API_KEY" }}
{extra}
"#,
        store = dir.join("store").display(),
        root = root.display(),
        port = closed_port(),
    );
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn vigil(args: &[&str]) -> Output {
    Command::new(VIGIL)
        .args(args)
        .env("VIGIL_TEST_API_KEY", ENV_SECRET)
        .env("VIGIL_TOKEN", VIGIL_TOKEN_SECRET)
        .env("RUST_LOG", "debug")
        .env("ORT_DYLIB_PATH", std::env::var_os("ORT_DYLIB_PATH").unwrap_or_default())
        .output()
        .expect("vigil runs")
}

/// Fails naming the secret and where it showed.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [HEADER_SECRET, ENV_SECRET, CONSOLE_SECRET, SASL_SECRET, VIGIL_TOKEN_SECRET] {
        assert!(!text.contains(secret), "{secret} shows in {what}:\n{text}");
    }
}

fn shown(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn print_config_hides_secrets_written_in_place_and_shows_their_references() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        r#"
[sinks.console]
type = "dashboard"
inputs = ["alerts"]
token = "{CONSOLE_SECRET}"
[sinks.bus]
type = "kafka"
inputs = ["alerts"]
brokers = "127.0.0.1:9"
topic = "alerts"
librdkafka = {{ "security.protocol" = "sasl_plaintext", "sasl.username" = "vigil", "sasl.password" = "{SASL_SECRET}" }}
"#
    );
    let config = topology(dir.path(), &extra);
    let out = Command::new(VIGIL)
        .args(["run", "--print-config", "--config"])
        .arg(&config)
        .env("VIGIL_SINKS__HOOK__HEADERS__X_TRACE", HEADER_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", shown(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_no_secret("--print-config", &text);
    assert!(text.contains("env:VIGIL_TEST_API_KEY"), "the reference is shown:\n{text}");
    assert!(text.contains("\"sasl.username\" = \"vigil\""), "plain settings are shown:\n{text}");
    assert!(text.contains("x_trace"), "the override is applied:\n{text}");
    assert_eq!(text.matches("<redacted>").count(), 4, "{text}");
}

#[test]
fn a_run_its_logs_its_stats_and_its_store_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path(), "");
    let config = config.to_str().unwrap();
    let run = vigil(&["run", "--json", "--config", config]);
    let text = shown(&run);
    assert!(text.contains("\"hook\""), "the run reports its webhook sink:\n{text}");
    assert!(text.contains("DEBUG"), "the run logged at debug level:\n{text}");
    assert_no_secret("vigil run's output", &text);

    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    for args in [&["stats", "--data", store][..], &["stats", "--json", "--data", store]] {
        let out = vigil(args);
        assert!(out.status.success(), "{}", shown(&out));
        assert_no_secret(&args.join(" "), &shown(&out));
    }

    // Every file the run wrote: Parquet, EVE, checkpoints, the webhook's spool.
    let mut files = 0;
    let mut dirs = vec![Path::new(store).to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files += 1;
                let bytes = std::fs::read(&p).unwrap();
                assert_no_secret(&p.display().to_string(), &String::from_utf8_lossy(&bytes));
            }
        }
    }
    assert!(files > 3, "the run wrote {files} files");
}
