//! The command line as a packaged appliance uses it: models found by name from any
//! directory, `vigil --version`, completions and man pages, and one vocabulary across
//! commands (`--out`/`--output`, `--log` guessed from the file name).

mod common;

use std::process::Command;

use common::{VIGIL, no_runtime, repo};

/// `vigil` run in `dir`.
fn vigil_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(VIGIL).args(args).current_dir(dir).env_remove("VIGIL_MODELS").output().unwrap()
}

#[test]
fn models_are_found_by_name_from_any_directory() {
    if no_runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let capture = repo("samples/ssh.pcap");
    let capture = capture.to_str().unwrap();
    // No --model: the default name, found outside the checkout.
    let out = vigil_in(dir.path(), &["-q", "score", "netfound", capture, "--output", "s.parquet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        common::read(&dir.path().join("s.parquet")).iter().map(|b| b.num_rows()).sum::<usize>(),
        25
    );
    // A name looked up in --models first, and an unknown name naming where it looked.
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let out = vigil_in(
        dir.path(),
        &["-q", "score", "netfound", capture, "--out", "x.parquet", "--model", "nope", "--models"],
    );
    assert_eq!(out.status.code(), Some(2), "--models needs a value");
    let out = vigil_in(
        dir.path(),
        &[
            "-q",
            "score",
            "netfound",
            capture,
            "--out",
            "x.parquet",
            "--model",
            "nope",
            "--models",
            models.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("no model named `nope`") && err.contains(models.to_str().unwrap()),
        "{err}"
    );
    // A topology naming its model.
    let toml = dir.path().join("t.toml");
    std::fs::write(
        &toml,
        format!(
            "[store]\ndir = \"store\"\n[sources.c]\ntype = \"pcap\"\npath = \"{capture}\"\n\
             [transforms.nf]\ntype = \"score\"\nmodel = \"netfound\"\ninputs = [\"c\"]\n\
             [sinks.s]\ntype = \"store\"\ninputs = [\"nf\"]\n"
        ),
    )
    .unwrap();
    let out = vigil_in(dir.path(), &["-q", "run", "--check", "--config", "t.toml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Any setting from the environment: the store moves; a wrong key is refused naming it.
    let check = |vars: &[(&str, &str)]| {
        let mut c = Command::new(VIGIL);
        c.args(["run", "--check", "--config", "t.toml"]).current_dir(dir.path());
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = check(&[("VIGIL_STORE__DIR", "/tmp/moved-store")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("store /tmp/moved-store"), "{err}");
    let out = check(&[("VIGIL_STORE__DIRR", "x")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("VIGIL_STORE__DIRR") && err.contains("dirr"),
        "{err}"
    );

    // --version: the commit, the runtime and the models.
    let out = vigil_in(dir.path(), &["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("vigil ") && text.contains("(git "), "{text}");
    assert!(text.contains("ONNX Runtime: 1.31.1"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("netfound ")), "{text}");
}

#[test]
fn completions_man_pages_and_one_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil_in(dir.path(), &["completions", "bash"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("_vigil()"));
    let out = vigil_in(dir.path(), &["man", "--out", "man"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in ["vigil.1", "vigil-run.1", "vigil-score-netfound.1"] {
        assert!(dir.path().join("man").join(page).is_file(), "{page}");
    }
    // An access log read without --log (guessed from its name), written with --output.
    let log = dir.path().join("access.log");
    std::fs::copy(repo("samples/actions/apache_access.log"), &log).unwrap();
    let out = vigil_in(
        dir.path(),
        &["-q", "tokenize", "actions", "access.log", "--output", "seq.parquet"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: usize =
        common::read(&dir.path().join("seq.parquet")).iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2000);
    // A truncated capture: tokenized as far as it goes, the rest a dead letter.
    let capture = std::fs::read(repo("samples/ssh.pcap")).unwrap();
    std::fs::write(dir.path().join("cut.pcap"), &capture[..600_000]).unwrap();
    let out = vigil_in(
        dir.path(),
        &[
            "-q",
            "tokenize",
            "netfound",
            "cut.pcap",
            "--out",
            "t.parquet",
            "--dead-letters",
            "dl.jsonl",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let letter: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("dl.jsonl")).unwrap())
            .unwrap();
    assert_eq!(
        (letter["source"].as_str(), letter["position"].as_str()),
        (Some("cut.pcap"), Some("packet 1273"))
    );
    // `vigil flows` takes --out as well as --output.
    let capture = repo("samples/ssh.pcap");
    let out =
        vigil_in(dir.path(), &["-q", "flows", capture.to_str().unwrap(), "--out", "conn.log"]);
    assert!(out.status.success() && dir.path().join("conn.log").is_file());
}
