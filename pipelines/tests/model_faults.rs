//! A model that cannot be trusted never scores: a corrupt graph or a manifest whose
//! sha256 does not match is refused when `vigil run` starts, naming the file; and when
//! a running model's artifact is replaced by a broken one, the reload is refused and the
//! loaded model keeps serving, until a sound artifact takes over.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{VIGIL, artifact, counts, no_runtime};
use vigil_ingest::synth::{GenConfig, TrafficKind, generate, write_pcap};

/// A copy of the IoT-23 FlowTransformer artifact (it scores capture flows).
fn model_copy(dir: &Path) -> PathBuf {
    let to = dir.join("model");
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(artifact("flow-transformer-iot23")).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to
}

/// Captures in `captures` (followed) → the model → the store.
fn topology(dir: &Path, model: &Path) -> PathBuf {
    let path = dir.join("t.toml");
    let text = format!(
        "sensor = \"faults\"\n[store]\ndir = {:?}\n[sources.cap]\ntype = \"pcap\"\npaths = [{:?}]\n\
         follow = true\n[transforms.ft]\ntype = \"score\"\nmodel = {:?}\ninputs = [\"cap\"]\n\
         [sinks.store]\ntype = \"store\"\ninputs = [\"ft\"]\n",
        dir.join("store").display().to_string(),
        dir.join("captures").display().to_string(),
        model.display().to_string(),
    );
    std::fs::create_dir_all(dir.join("captures")).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Flip the last byte of `file`.
fn corrupt(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn a_corrupt_model_or_a_wrong_sha256_is_refused_at_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(dir.path());
    let config = topology(dir.path(), &model);
    corrupt(&model.join("model.onnx"));
    let out = Command::new(VIGIL).args(["run", "--config"]).arg(&config).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("sha256 mismatch") && err.contains("model.onnx"), "{err}");
    assert!(err.contains("transform `ft`"), "the stage is named: {err}");

    // A graph that is not ONNX at all, its manifest's sha256 made to match.
    let garbage = b"not an ONNX graph \xff\xfe".to_vec();
    std::fs::write(model.join("model.onnx"), &garbage).unwrap();
    let manifest = model.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["sha256"] = sha256_hex(&garbage).into();
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    if no_runtime() {
        return;
    }
    let out = Command::new(VIGIL).args(["run", "--config"]).arg(&config).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("model.onnx") && err.contains("transform `ft`"), "{err}");
    assert!(!dir.path().join("store/flows").exists(), "nothing was stored");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The run's counters of stage `stage`, from the stats file it keeps in the store.
fn stage(store: &Path, stage: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("_stats/faults.json")).ok()?).ok()?;
    v.as_array()?.iter().find(|s| s["stage"] == stage).cloned()
}

#[test]
fn a_broken_artifact_is_refused_on_reload_and_the_loaded_model_keeps_serving() {
    if no_runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(dir.path());
    let config = topology(dir.path(), &model);
    let store = dir.path().join("store");
    let child = Command::new(VIGIL)
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Capture k starts an hour after capture k-1: its first packet ends the flows of
    // k-1 (idle timeouts), which go to the model as one batch, and the reload is looked
    // at before each batch.
    let send = |k: i64| {
        let config = GenConfig {
            count: 40,
            seed: k as u64,
            start_us: (1_700_000_000 + k * 3600) * 1_000_000,
            ..Default::default()
        };
        let tmp = dir.path().join("next.tmp");
        write_pcap(
            std::fs::File::create(&tmp).unwrap(),
            &generate(TrafficKind::BenignMix, &config),
        )
        .unwrap();
        std::fs::rename(&tmp, dir.path().join(format!("captures/{k}.pcap"))).unwrap();
        let want = (k as u64 - 1) * 40;
        while stage(&store, "ft").and_then(|s| s["records_out"].as_u64()) != Some(want) {
            assert!(
                Instant::now() < deadline,
                "the flows of capture {} were not scored in time",
                k - 1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let pause = || std::thread::sleep(Duration::from_millis(1100));
    send(1);
    send(2);
    let graph = model.join("model.onnx");
    let sound = std::fs::read(&graph).unwrap();
    pause();
    corrupt(&graph);
    pause();
    send(3);
    std::fs::write(&graph, &sound).unwrap();
    pause();
    send(4);
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("model reload refused") && log.contains("sha256 mismatch"), "{log}");
    let ft = stage(&store, "ft").unwrap();
    assert_eq!(ft["model_reload_failures"], 1, "{ft}");
    assert_eq!(ft["model_reloads"], 1, "{ft}");
    assert_eq!(ft["unscored"], 0, "{ft}");
    let q = [
        "select count(*) from flows",
        "select count(*) from flows where flow_transformer_iot23.label is not null",
    ];
    assert_eq!(counts(&store, &q), vec![160, 160], "every flow stored and scored");
}
