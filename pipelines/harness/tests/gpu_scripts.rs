//! `benchmarks/gpu.sh` and `benchmarks/gpu-env.sh` run on GPU machines only, so CI checks that
//! they parse, and what gpu-env.sh finds in a made-up site-packages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn gpu_scripts_parse() {
    for script in ["benchmarks/gpu.sh", "benchmarks/gpu-env.sh"] {
        let out = Command::new("bash").arg("-n").arg(repo().join(script)).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The libraries gpu-env.sh checks (those vigil-models preloads).
const CUDA: &[&str] = &[
    "libcudart.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libcufft.so.12",
    "libcurand.so.10",
    "libnvrtc.so.13",
];
const CUDNN: &[&str] = &[
    "libcudnn.so.9",
    "libcudnn_graph.so.9",
    "libcudnn_ops.so.9",
    "libcudnn_heuristic.so.9",
    "libcudnn_adv.so.9",
    "libcudnn_cnn.so.9",
    "libcudnn_engines_precompiled.so.9",
    "libcudnn_engines_runtime_compiled.so.9",
];

fn touch(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"").unwrap();
}

/// Sources gpu-env.sh with `site` as VIGIL_GPU_SITE and no Python; prints what it set.
fn source_gpu_env(site: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(
            "set -u; source benchmarks/gpu-env.sh; rc=$?; \
             echo \"rc=$rc\"; echo \"ORT=$ORT_DYLIB_PATH\"; echo \"LD=$LD_LIBRARY_PATH\"",
        )
        .current_dir(repo())
        .env("VIGIL_GPU_SITE", site)
        .env("VIGIL_PEER_PYTHON", "/nonexistent/python3")
        .env("LD_LIBRARY_PATH", "/before")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap()
}

#[test]
fn gpu_env_finds_onnxruntime_gpu_and_the_nvidia_wheels() {
    let tmp = tempfile::tempdir().unwrap();
    // An unpacked onnxruntime-gpu wheel in one folder, the nvidia-* wheels in another.
    let (ort, wheels) = (tmp.path().join("ort"), tmp.path().join("site-packages"));
    let capi = ort.join("onnxruntime/capi");
    touch(&capi.join("libonnxruntime.so.1.31.1"));
    touch(&capi.join("libonnxruntime_providers_cuda.so"));
    let (cu13, cudnn) = (wheels.join("nvidia/cu13/lib"), wheels.join("nvidia/cudnn/lib"));
    CUDA.iter().for_each(|l| touch(&cu13.join(l)));
    CUDNN.iter().for_each(|l| touch(&cudnn.join(l)));
    let site = format!("{}:{}", ort.display(), wheels.display());

    let out = source_gpu_env(&site);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("rc=0"), "{text}{err}");
    assert!(
        text.contains(&format!("ORT={}", capi.join("libonnxruntime.so.1.31.1").display())),
        "{text}"
    );
    assert!(text.contains(&format!("LD={}:{}:/before", cu13.display(), cudnn.display())), "{text}");

    // A missing cuDNN library and a CPU-only onnxruntime: said, status 1, the shell lives on.
    std::fs::remove_file(cudnn.join("libcudnn_ops.so.9")).unwrap();
    std::fs::remove_file(capi.join("libonnxruntime_providers_cuda.so")).unwrap();
    let out = source_gpu_env(&site);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("rc=1"), "{text}{err}");
    assert!(
        err.contains("libcudnn_ops.so.9") && err.contains("no onnxruntime-gpu 1.31.1"),
        "{err}"
    );
    assert!(
        text.contains(&format!("ORT={}", capi.join("libonnxruntime.so.1.31.1").display())),
        "{text}"
    );
}
