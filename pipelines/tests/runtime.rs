//! The streaming runtime end to end: topologies from TOML through the real models into
//! the Parquet store, queried with SQL; start-up validation; shutdown on a signal.
//! Restarts, checkpoints and failures are in `resume.rs`.
//!
//! Tests that score need the ONNX Runtime library; without it they say why and pass.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use common::{VIGIL, artifact, no_runtime, read, repo};
use vigil_pipelines::runtime::{Runner, Topology, TopologyConfig};
use vigil_pipelines::sql::{QueryLimits, open_store, run_query};
use vigil_pipelines::store::{Table, list_files};

fn toml_str(p: &Path) -> String {
    p.display().to_string()
}

/// Build and run a topology given as TOML.
async fn run_toml(text: &str) -> vigil_pipelines::runtime::RunSummary {
    let config = TopologyConfig::from_toml(text, Path::new("test.toml")).unwrap();
    let topology = tokio::task::block_in_place(|| Topology::build(config)).unwrap();
    let summary = Runner::new(topology).run().await.unwrap();
    assert_eq!(summary.lost, 0, "nothing is lost: {:?}", summary.errors);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    summary
}

/// `vigil run --check` on a topology of the sample capture, one score stage `m` of
/// `model` with the line `setting`, and a store sink (files under `dir`).
fn check_score_stage(dir: &Path, model: &str, setting: &str) -> std::process::Output {
    let path = dir.join("check.toml");
    std::fs::write(
        &path,
        format!(
            "[sources.a]\ntype = \"pcap\"\npaths = [\"{}\"]\n[transforms.m]\ntype = \"score\"\n\
             model = \"{}\"\ninputs = [\"a\"]\n{setting}\n[sinks.s]\ntype = \"store\"\ninputs = [\"m\"]\n",
            toml_str(&repo("samples/ssh.pcap")),
            toml_str(&artifact(model)),
        ),
    )
    .unwrap();
    Command::new(VIGIL)
        .args(["run", "--check", "--data", dir.join("store").to_str().unwrap()])
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap()
}

/// The first column of the first row of a query's result, as i64.
async fn count(store: &Path, sql: &str) -> i64 {
    let ctx = open_store(store, QueryLimits::default()).await.unwrap();
    let r = run_query(&ctx, sql, &QueryLimits::default()).await.unwrap();
    r.batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_flows_are_scored_by_netfound_and_flowtransformer_stored_and_queried() {
    if no_runtime() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
        sensor = "t1"
        [store]
        dir = "{store}"
        [sources.capture]
        type = "pcap"
        paths = ["{pcap}"]
        [transforms.netfound]
        type = "score"
        model = "{netfound}"
        inputs = ["capture"]
        [transforms.flowtransformer]
        type = "score"
        model = "{iot23}"
        inputs = ["netfound"]
        [transforms.alerts]
        type = "alerts"
        inputs = ["flowtransformer"]
        rules = [{{ name = "any", model = "netfound", min_score = 0.0, suppress_secs = 0 }}]
        [sinks.store]
        type = "store"
        inputs = ["flowtransformer", "alerts"]
        "#,
        store = toml_str(store.path()),
        pcap = toml_str(&repo("samples/ssh.pcap")),
        netfound = toml_str(&artifact("netfound")),
        iot23 = toml_str(&artifact("flow-transformer-iot23")),
    );
    let summary = run_toml(&text).await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let (flows, _) = vigil_pipelines::extract::flows_from_capture(
        &repo("samples/ssh.pcap"),
        Default::default(),
        Default::default(),
    );
    let n = flows.len() as i64;
    assert_eq!(count(store.path(), "select count(*) from flows").await, n);
    // Every flow of this capture is TCP or UDP, so netFound scored them all.
    assert_eq!(count(store.path(), "select count(netfound) from flows").await, n);
    assert_eq!(
        count(
            store.path(),
            "select count(*) from flows where netfound.score between 0 and 1 \
             and netfound.malicious between 0 and 1 and netfound.label is not null \
             and netfound.model_version is not null"
        )
        .await,
        n
    );
    // The FlowTransformer (IoT-23, Zeek conn.log features) scored every flow too.
    assert_eq!(
        count(
            store.path(),
            "select count(*) from flows where flow_transformer_iot23.label in ('Benign', 'Malicious') \
             and flow_transformer_iot23.score between 0 and 1"
        )
        .await,
        n
    );
    // A rule that always fires raised one alert per flow (no suppression).
    assert_eq!(
        count(store.path(), "select count(*) from alerts where model = 'netfound'").await,
        n
    );
    let source = summary.stages.iter().find(|s| s.stage == "capture").unwrap();
    assert_eq!(source.records_in, 1797, "packets read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_model_cannot_score_is_stored_unscored_not_lost() {
    if no_runtime() {
        return;
    }
    // The CIC-IDS2017 FlowTransformer needs CICFlowMeter features our flows do not have.
    let store = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\ndir = \"{}\"\n[sources.c]\ntype = \"pcap\"\npaths = [\"{}\"]\n\
         [transforms.ft]\ntype = \"score\"\nmodel = \"{}\"\ninputs = [\"c\"]\n\
         [sinks.s]\ntype = \"store\"\ninputs = [\"ft\"]\n",
        toml_str(store.path()),
        toml_str(&repo("samples/ssh.pcap")),
        toml_str(&artifact("flow-transformer-cicids2017")),
    );
    let summary = run_toml(&text).await;
    let ft = summary.stages.iter().find(|s| s.stage == "ft").unwrap();
    assert_eq!(ft.unscored, 25, "the rows it could not score are counted");
    assert_eq!(count(store.path(), "select count(*) from flows").await, 25, "and stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_actions_are_scored_by_itransformer_and_hstu() {
    if no_runtime() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
        [store]
        dir = "{store}"
        [sources.metrics]
        type = "metrics"
        path = "{metrics}"
        [sources.actions]
        type = "actions"
        path = "{actions}"
        format = "access"
        [transforms.itransformer]
        type = "score"
        model = "{itransformer}"
        inputs = ["metrics"]
        series = ["ec2_cpu_utilization_825cc2"]
        step_seconds = 300
        [transforms.hstu]
        type = "score"
        model = "{hstu}"
        inputs = ["actions"]
        [sinks.store]
        type = "store"
        inputs = ["itransformer", "hstu"]
        "#,
        store = toml_str(store.path()),
        metrics = toml_str(&repo("samples/metrics/ec2_cpu_utilization_825cc2.csv")),
        actions = toml_str(&repo("samples/actions/apache_access.log")),
        itransformer = toml_str(&artifact("itransformer-etth1")),
        hstu = toml_str(&artifact("hstu-user-actions")),
    );
    let summary = run_toml(&text).await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let steps = count(store.path(), "select count(*) from metrics").await;
    assert!(steps >= 4032, "{steps} steps");
    // Every step after the first lookback window (96) gets a forecast, and a score
    // where it has a value (the grid has a couple of empty steps).
    let forecast = count(store.path(), "select count(forecast) from metrics").await;
    assert_eq!(forecast, steps - 96);
    assert_eq!(
        count(store.path(), "select count(anomaly_score) from metrics").await,
        count(
            store.path(),
            "select count(*) from metrics where forecast is not null and value is not null \
             and model = 'itransformer-etth1'"
        )
        .await
    );
    assert_eq!(count(store.path(), "select count(*) from actions").await, 2000);
    let surprising =
        count(store.path(), "select count(surprise) from actions where surprise > 0 and rank >= 1")
            .await;
    assert!(surprising > 1000, "{surprising} actions with a surprise");
    // HSTU's five most likely actions at each event, the first its prediction.
    let expected = count(
        store.path(),
        "select count(*) from actions where array_length(expected) = 5 \
         and expected[1]['token'] = predicted and expected[1]['p'] >= expected[5]['p']",
    )
    .await;
    assert_eq!(expected, 2000);
}

/// A score stage's `precision`: the int8 graph scores every flow and agrees with fp32 on
/// (nearly) every label; a variant the artifact lacks, or an unknown precision, is refused
/// at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn score_precision_int8_scores_like_fp32_and_a_missing_variant_is_refused() {
    if no_runtime() {
        return;
    }
    let mut labels = Vec::new();
    for precision in ["fp32", "int8"] {
        let store = tempfile::tempdir().unwrap();
        let text = format!(
            "[store]\ndir = \"{}\"\n[sources.c]\ntype = \"pcap\"\npaths = [\"{}\"]\n\
             [transforms.nf]\ntype = \"score\"\nmodel = \"{}\"\ninputs = [\"c\"]\n\
             precision = \"{precision}\"\n[sinks.s]\ntype = \"store\"\ninputs = [\"nf\"]\n",
            toml_str(store.path()),
            toml_str(&repo("samples/ssh.pcap")),
            toml_str(&artifact("netfound")),
        );
        run_toml(&text).await;
        let ctx = open_store(store.path(), QueryLimits::default()).await.unwrap();
        let sql = "select netfound.label from flows order by uid";
        let r = run_query(&ctx, sql, &QueryLimits::default()).await.unwrap();
        let got: Vec<String> = r
            .batches
            .iter()
            .flat_map(|b| {
                let c = b.column(0).as_string::<i32>();
                (0..b.num_rows()).map(|i| c.value(i).to_string()).collect::<Vec<_>>()
            })
            .collect();
        labels.push(got);
    }
    let (fp32, int8) = (&labels[0], &labels[1]);
    assert!(
        fp32.len() >= 20 && fp32.len() == int8.len(),
        "{} and {} flows",
        fp32.len(),
        int8.len()
    );
    let same = fp32.iter().zip(int8).filter(|(a, b)| a == b).count();
    assert!(same * 100 >= fp32.len() * 95, "int8 agrees on {same} of {} labels", fp32.len());

    let dir = tempfile::tempdir().unwrap();
    for (precision, expected) in [
        ("fp16", "model netfound: there is no fp16 variant"),
        ("int4", "unknown precision \"int4\": expected fp32, fp16 or int8"),
    ] {
        let out =
            check_score_stage(dir.path(), "netfound", &format!("precision = \"{precision}\""));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{precision}: {err}");
        assert!(err.contains("transform `m`") && err.contains(expected), "{precision}: {err}");
    }
}

#[test]
fn bad_topologies_are_refused_before_anything_runs() {
    let pcap = toml_str(&repo("samples/ssh.pcap"));
    let itransformer = toml_str(&artifact("itransformer-etth1"));
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "[sources.a]\ntype = \"pcap\"\npaths = [\"{pcap}\"]\n[sinks.s]\ntype = \"store\"\ninputs = [\"b\"]\n"
            ),
            "`s` reads from `b`, which is not a source or transform",
        ),
        (
            "[sources.a]\ntype = \"pcap\"\npaths = [\"/no/such.pcap\"]\n[sinks.s]\ntype = \"store\"\ninputs = [\"a\"]\n".to_string(),
            "/no/such.pcap: no such file or directory",
        ),
        (
            format!(
                "[sources.a]\ntype = \"pcap\"\npaths = [\"{pcap}\"]\n[transforms.m]\ntype = \"score\"\nmodel = \"/no/model\"\ninputs = [\"a\"]\n[sinks.s]\ntype = \"store\"\ninputs = [\"m\"]\n"
            ),
            "transform `m`: cannot load the model in /no/model",
        ),
        (
            format!(
                "[sources.a]\ntype = \"pcap\"\npaths = [\"{pcap}\"]\n[transforms.m]\ntype = \"score\"\nmodel = \"{itransformer}\"\ninputs = [\"a\"]\n[sinks.s]\ntype = \"store\"\ninputs = [\"m\"]\n"
            ),
            "transform `m`: a itransformer model reads metrics, but its inputs give flows",
        ),
        (
            format!(
                "[sources.a]\ntype = \"pcap\"\npaths = [\"{pcap}\"]\n[sinks.e]\ntype = \"eve\"\npath = \"/tmp/x.json\"\ninputs = [\"a\"]\n"
            ),
            "sink `e` writes alerts, but none of its inputs raises any",
        ),
        (
            format!("[sources.a]\ntype = \"pcapng\"\npaths = [\"{pcap}\"]\n"),
            "unknown variant `pcapng`",
        ),
        (
            format!(
                "[http]\nlisten = \"localhost\"\n[sources.a]\ntype = \"pcap\"\npaths = [\"{pcap}\"]\n[sinks.s]\ntype = \"store\"\ninputs = [\"a\"]\n"
            ),
            "http.listen `localhost` is not an address with a port",
        ),
        (
            format!(
                "[sources.a]\ntype = \"flow_csv\"\npath = \"{metrics}\"\nmapping = \"cicflowmeter\"\n[sinks.s]\ntype = \"store\"\ninputs = [\"a\"]\n",
                metrics = toml_str(&repo("samples/metrics/ec2_cpu_utilization_825cc2.csv"))
            ),
            "source `a`",
        ),
        (
            format!(
                "[sources.a]\ntype = \"metrics\"\npath = \"{metrics}\"\n[transforms.m]\ntype = \"score\"\nmodel = \"{itransformer}\"\ninputs = [\"a\"]\n[transforms.al]\ntype = \"alerts\"\ninputs = [\"m\"]\nrules = [{{ name = \"r\", model = \"netfound\", min_score = 0.5 }}]\n[sinks.s]\ntype = \"store\"\ninputs = [\"al\"]\n",
                metrics = toml_str(&repo("samples/metrics/ec2_cpu_utilization_825cc2.csv"))
            ),
            "(`r`) reads model `netfound`, which no stage before it runs",
        ),
        (
            format!(
                "[sources.a]\ntype = \"pcap\"\npaths = [\"{readme}\"]\n[sinks.s]\ntype = \"store\"\ninputs = [\"a\"]\n",
                readme = toml_str(&repo("README.md"))
            ),
            "not a pcap or pcapng capture",
        ),
        (
            // Every problem at once.
            "[sources.a]\ntype = \"pcap\"\npaths = [\"/no/such.pcap\"]\n[transforms.m]\ntype = \"score\"\nmodel = \"/no/model\"\ninputs = [\"a\"]\n[sinks.s]\ntype = \"store\"\ninputs = [\"m\", \"zz\"]\n".to_string(),
            "the topology has 3 problems",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("t{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new(VIGIL)
            .args([
                "run",
                "--check",
                "--data",
                dir.path().join("store").to_str().unwrap(),
                "--config",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // A model that cannot load for want of ONNX Runtime gives a different message.
        if expected.contains("a itransformer model") && no_runtime() {
            println!("skipped case {i}: no ONNX Runtime");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "case {i}: {err}");
        assert!(err.contains(expected), "case {i}: expected {expected:?} in {err}");
    }
    assert!(!dir.path().join("store").exists(), "--check creates nothing");
}

/// A score stage's `device`: `auto` starts on the CPU without a GPU, `cuda` is refused at
/// start-up naming the stage, the model and what to do, an unknown one is refused.
#[test]
fn score_device_auto_starts_and_cuda_without_a_gpu_is_refused() {
    if no_runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for device in ["auto", "cuda", "tpu"] {
        let out = check_score_stage(
            dir.path(),
            "flow-transformer-iot23",
            &format!("device = \"{device}\""),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        match device {
            "auto" => assert!(out.status.success(), "{err}"),
            // A GPU build on a machine with CUDA starts.
            "cuda" if out.status.success() => {}
            "cuda" => {
                assert_eq!(out.status.code(), Some(1), "{err}");
                assert!(
                    err.contains("transform `m`")
                        && err.contains("model flow-transformer-iot23: device cuda was asked for")
                        && err.contains("use device auto"),
                    "{err}"
                );
            }
            _ => {
                assert_eq!(out.status.code(), Some(1), "{err}");
                assert!(
                    err.contains("unknown device \"tpu\": expected cpu, cuda or auto"),
                    "{err}"
                );
            }
        }
    }
}

#[test]
fn relative_paths_follow_the_file_and_data_moves_every_output() {
    if no_runtime() {
        return;
    }
    // A topology beside its inputs, run from elsewhere, its store moved by --data.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::copy(repo("samples/metrics/ec2_cpu_utilization_825cc2.csv"), conf.join("cpu.csv"))
        .unwrap();
    let model = toml_str(&artifact("itransformer-etth1"));
    let text = format!(
        "sensor = \"rel\"\n[store]\ndir = \"data\"\n[sources.m]\ntype = \"metrics\"\npath = \"cpu.csv\"\n[transforms.i]\ntype = \"score\"\nmodel = \"{model}\"\ninputs = [\"m\"]\nseries = [\"cpu\"]\nstep_seconds = 300\n[transforms.a]\ntype = \"alerts\"\ninputs = [\"i\"]\nrules = [{{ name = \"any\", model = \"itransformer-etth1\", min_score = 0.0 }}]\n[sinks.s]\ntype = \"store\"\ninputs = [\"i\", \"a\"]\n[sinks.e]\ntype = \"eve\"\npath = \"eve.json\"\ninputs = [\"a\"]\n"
    );
    std::fs::write(conf.join("t.toml"), text).unwrap();
    let elsewhere = dir.path().join("cwd");
    std::fs::create_dir(&elsewhere).unwrap();
    let run = |extra: &[&str]| {
        Command::new(VIGIL)
            .args(["run", "--config", conf.join("t.toml").to_str().unwrap()])
            .args(extra)
            .current_dir(&elsewhere)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(conf.join("data/metrics").is_dir(), "the store is relative to the file");
    assert!(conf.join("data/eve.json").is_file(), "EVE is relative to the store");
    let moved = dir.path().join("moved");
    let out = run(&["--data", moved.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(moved.join("metrics").is_dir() && moved.join("eve.json").is_file());
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none(), "nothing in the cwd");
}

/// Poll `f` every 20 ms for at most `secs` seconds.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_first_signal_flushes_everything_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("captures");
    std::fs::create_dir(&watched).unwrap();
    std::fs::copy(repo("samples/ssh.pcap"), watched.join("ssh.pcap")).unwrap();
    let store = dir.path().join("store");
    let config = dir.path().join("follow.toml");
    std::fs::write(
        &config,
        format!(
            "sensor = \"follow\"\n[store]\ndir = \"{}\"\n[sources.capture]\ntype = \"pcap\"\npaths = [\"{}\"]\nfollow = true\n[sinks.store]\ntype = \"store\"\ninputs = [\"capture\"]\n",
            toml_str(&store),
            toml_str(&watched)
        ),
    )
    .unwrap();
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(VIGIL)
        .args(["run", "--config", config.to_str().unwrap(), "--metrics-listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The source has read the file (its counters say so) and now waits for more files;
    // its flows are still open in the flow table.
    let stats = store.join("_stats/follow.json");
    wait_for(30, "the capture to be read", || {
        std::fs::read_to_string(&stats).is_ok_and(|s| s.contains("\"records_in\": 1797"))
    });
    assert!(child.try_wait().unwrap().is_none(), "follow mode keeps running");
    // Its counters, in Prometheus' text format, from the running instance.
    let metrics = common::run(&["stats", "--url", &listen, "--prometheus"]);
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        text.contains("vigil_stage_records_in_total{stage=\"capture\",role=\"source\"} 1797"),
        "{text}{}",
        String::from_utf8_lossy(&metrics.stderr)
    );
    // And as `vigil stats` prints a store's: a table of stages.
    let table = common::run(&["stats", "--url", &listen]);
    let text = String::from_utf8_lossy(&table.stdout);
    let capture = text.lines().find(|l| l.trim_start().starts_with("capture")).unwrap_or("");
    assert!(capture.contains("source") && capture.contains("1797"), "{text}");
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    wait_for(30, "vigil to exit", || child.try_wait().unwrap().is_some());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: usize = list_files(&store, Table::Flows)
        .unwrap()
        .iter()
        .map(|f| read(&f.path).iter().map(|b| b.num_rows()).sum::<usize>())
        .sum();
    let (flows, _) = vigil_pipelines::extract::flows_from_capture(
        &repo("samples/ssh.pcap"),
        Default::default(),
        Default::default(),
    );
    assert_eq!(rows, flows.len(), "every open flow was flushed and committed");
}

#[test]
fn demo_then_sql_as_the_readme_types_them() {
    if no_runtime() {
        return;
    }
    // A fresh working directory: the default store is ./vigil-data there.
    let cwd = tempfile::tempdir().unwrap();
    let vigil = |args: &[&str]| {
        Command::new(VIGIL)
            .args(args)
            .current_dir(cwd.path())
            .env_remove("VIGIL_STORE")
            .output()
            .unwrap()
    };
    let demo = vigil(&["demo"]);
    let said = String::from_utf8_lossy(&demo.stdout);
    assert_eq!(demo.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&demo.stderr));
    assert!(said.contains("Alerts by signature") && said.contains("vigil sql"), "{said}");
    let sql = vigil(&["sql", "select count(*) as n from flows", "--format", "json"]);
    assert_eq!(sql.status.code(), Some(0), "{}", String::from_utf8_lossy(&sql.stderr));
    let row: serde_json::Value = serde_json::from_slice(&sql.stdout).unwrap();
    // The capture's 25 flows and the flow CSV's 448 records.
    assert_eq!(row["n"], 473);
    // Identities that join: no flow_id or uid twice in the store.
    let ids = vigil(&[
        "sql",
        "select count(distinct flow_id) as ids, count(distinct uid) as uids from flows",
        "--format",
        "json",
    ]);
    let ids: serde_json::Value = serde_json::from_slice(&ids.stdout).unwrap();
    assert_eq!((ids["ids"].as_i64(), ids["uids"].as_i64()), (Some(473), Some(473)), "{ids}");
    let csv = vigil(&["sql", "--saved", "alerts-by-model", "--format", "csv"]);
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("model,signature,severity,alerts"));
    let refused = vigil(&["sql", "delete from flows"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("read-only"));
    let stats = vigil(&["stats", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["demo"].as_array().map(Vec::len), Some(12), "twelve stages in the demo");
    let eve = cwd.path().join("vigil-data/eve.json");
    assert!(eve.is_file());
    eve_reads_as_suricata_alerts(&eve);
    alerts_can_be_acknowledged_and_escalated(&vigil);
}

/// `jq` with `filter` over the EVE file (`-s`: slurped), its stdout.
fn jq(eve: &Path, slurp: bool, filter: &str) -> String {
    let mut c = Command::new("jq");
    c.arg("-r");
    if slurp {
        c.arg("-s");
    }
    let out = match c.arg(filter).arg(eve).output() {
        Ok(out) => out,
        Err(e) => panic!("jq must be installed (.ci/run installs it): {e}"),
    };
    assert!(out.status.success(), "jq {filter}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Recipes written for Suricata's `eve.json` read our alerts as they read Suricata's:
/// selection by event type, top signatures, a TSV of the 5-tuple, timestamps parsed as
/// Suricata writes them, Community ID pivots, and the field types and `alert` keys of
/// Suricata's EVE schema (`etc/schema.json`).
fn eve_reads_as_suricata_alerts(eve: &Path) {
    let lines = std::fs::read_to_string(eve).unwrap();
    let alerts = lines.lines().filter(|l| l.contains(r#""event_type":"alert""#)).count();
    assert!(alerts > 10, "the demo raises alerts: {alerts}");
    // Every line starts with the timestamp, as line-oriented parsers expect.
    let first_keys = jq(eve, false, "keys_unsorted[0]");
    assert!(first_keys.lines().all(|k| k == "timestamp"), "{first_keys}");
    // Select alerts and read their signature ids (integers, in the built-in range).
    let sids = jq(eve, false, r#"select(.event_type == "alert") | .alert.signature_id"#);
    let sids: Vec<u32> = sids.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(sids.len(), alerts);
    assert!(sids.iter().all(|s| (9_100_000..9_300_000).contains(s)), "{sids:?}");
    // Top signatures, counted.
    let top = jq(
        eve,
        true,
        r#"map(select(.event_type == "alert")) | group_by(.alert.signature)
           | map({signature: .[0].alert.signature, n: length}) | sort_by(-.n)
           | map(.n) | add"#,
    );
    assert_eq!(top.trim(), alerts.to_string());
    // A TSV of the flow alerts' 5-tuples and signatures.
    let tsv = jq(
        eve,
        false,
        r#"select(.event_type == "alert" and .flow_id != null)
           | [.timestamp, .src_ip, .src_port, .dest_ip, .dest_port, .proto, .alert.signature] | @tsv"#,
    );
    assert!(!tsv.is_empty());
    for row in tsv.lines() {
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), 7, "{row}");
        assert!(cols.iter().all(|c| !c.is_empty()), "{row}");
        assert!(["TCP", "UDP", "ICMP", "IPv6-ICMP"].contains(&cols[5]), "{row}");
    }
    // Suricata's timestamp format (`…T01:46:40.123456+0000`), parsed the usual way.
    let secs = jq(
        eve,
        false,
        r#"select(.event_type == "alert") | .timestamp
           | if test("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d+[+\\-]\\d+$")
             then .[0:19] + "Z" | fromdateiso8601 else error("not Suricata's format: \(.)") end"#,
    );
    assert!(secs.lines().all(|s| s.parse::<f64>().is_ok_and(|t| t > 1e9)), "{secs}");
    // Community ID pivots: version 1, base64.
    let ids = jq(eve, false, r#"select(.event_type == "alert" and .community_id) | .community_id"#);
    assert!(!ids.is_empty());
    assert!(ids.lines().all(|c| c.starts_with("1:") && c.len() == 30), "{ids}");
    // Suricata's schema: integer ids and severity, only its `alert` keys.
    let bad = jq(
        eve,
        false,
        r#"select(.event_type == "alert")
           | select((.alert | keys) - ["action", "category", "gid", "rev", "rule", "severity",
                "signature", "signature_id", "metadata", "source", "target", "xff"] != []
             or ([.alert.gid, .alert.signature_id, .alert.rev, .alert.severity]
                 | map(type == "number" and . == floor) | all | not)
             or (.flow_id != null and (.flow_id | type) != "number")
             or (.src_port != null and (.src_port | type) != "number"))
           | .vigil.alert_id"#,
    );
    assert!(bad.is_empty(), "alerts off Suricata's schema: {bad}");
    // Evidence: FlowTransformer alerts name the features their score rests on
    // (occlusion, the top 5, largest drop first) where they were explained.
    let parts = jq(
        eve,
        false,
        r#"select(.alert.signature_id == 9100002 and .vigil.evidence.occlusion != null)
           | .vigil.evidence.occlusion.parts | [length, (map(.delta) | . == (sort | reverse))]
           | @csv"#,
    );
    assert!(!parts.is_empty(), "no explained FlowTransformer alert");
    assert!(parts.lines().all(|l| l == "5,true"), "{parts}");
    // The metric rule compares NAB's HTM likelihood with the manifest's NAB threshold.
    let likelihood = jq(
        eve,
        false,
        r#"select(.event_type == "alert" and .alert.signature_id == 9100007)
           | .timestamp[0:19] as $at | .vigil.evidence
           | [.likelihood >= .threshold.threshold - 1e-6, .threshold.operating_point,
              (.recent | length > 0 and .[-1].ts[0:19] == $at)]
           | @csv"#,
    );
    assert!(!likelihood.is_empty(), "no iTransformer alert");
    assert!(likelihood.lines().all(|l| l == "true,\"likelihood_nab\",true"), "{likelihood}");
}

/// `vigil alerts ack|escalate` record decisions in `alert_state`; the saved queue
/// leaves acknowledged alerts out and puts escalated ones first; unknown ids are
/// refused and nothing is recorded.
fn alerts_can_be_acknowledged_and_escalated(vigil: &dyn Fn(&[&str]) -> std::process::Output) {
    let ids = vigil(&[
        "sql",
        "select alert_id from alerts where event_type = 'alert' order by timestamp, alert_id",
        "--format",
        "csv",
    ]);
    let text = String::from_utf8_lossy(&ids.stdout).to_string();
    let ids: Vec<&str> = text.lines().skip(1).collect();
    assert!(ids.len() >= 3, "{text}");
    let ack = vigil(&["alerts", "ack", ids[0], "--by", "ana", "--comment", "known scanner"]);
    assert_eq!(ack.status.code(), Some(0), "{}", String::from_utf8_lossy(&ack.stderr));
    let esc = vigil(&["alerts", "escalate", ids[2], "--json"]);
    assert_eq!(esc.status.code(), Some(0), "{}", String::from_utf8_lossy(&esc.stderr));
    let unknown = vigil(&["alerts", "ack", ids[1], "00000000-0000-0000-0000-000000000000"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("1 of 2 ids are not alerts"));
    let queue = vigil(&["sql", "--saved", "alert-queue", "--format", "json"]);
    assert_eq!(queue.status.code(), Some(0), "{}", String::from_utf8_lossy(&queue.stderr));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&queue.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["alert_id"], ids[2], "escalated first");
    assert_eq!(rows[0]["state"], "escalated");
    assert!(rows.iter().all(|r| r["alert_id"] != ids[0]), "acknowledged: out of the queue");
    assert!(rows.iter().all(|r| r["state"] == "new" || r["alert_id"] == ids[2]), "the rest: new");
    let state = vigil(&[
        "sql",
        "select state, actor, comment from alert_state order by ts, state",
        "--format",
        "csv",
    ]);
    let state = String::from_utf8_lossy(&state.stdout);
    assert!(state.contains("acknowledged,ana,known scanner"), "{state}");
    assert_eq!(state.lines().count(), 3, "two decisions, the refused one not recorded: {state}");
}

#[test]
fn the_example_topology_checks_from_anywhere() {
    if no_runtime() {
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(VIGIL)
        .args(["run", "--check", "--config"])
        .arg(repo("examples/vigil.toml"))
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_dir(cwd.path()).unwrap().next().is_none(), "--check wrote nothing");
}
