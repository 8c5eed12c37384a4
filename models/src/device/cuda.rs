//! The CUDA execution provider: a session on GPU 0, or why there cannot be one.
//!
//! ONNX Runtime loaded with `load-dynamic` does not fail when the CUDA provider is asked of a
//! CPU-only library unless the registration is made with `error_on_failure`, and a provider
//! that registers can still fail when the session is created (no GPU, a CUDA library that
//! does not load). Each of those steps is checked here and turned into an [`Unavailable`].

use ort::session::Session;

use super::{SessionSource, Unavailable};

/// What to do when this build has no CUDA support.
#[cfg(not(feature = "cuda"))]
const HINT_BUILD: &str = "rebuild with `--features vigil-models/cuda` \
    (e.g. `cargo build --release -p vigil-pipelines --features vigil-models/cuda`)";

/// What to do when the ONNX Runtime library is a CPU-only one.
#[cfg(feature = "cuda")]
const HINT_RUNTIME: &str = "install onnxruntime-gpu==1.31.1 and point ORT_DYLIB_PATH at its \
    onnxruntime/capi/libonnxruntime.so.1.31.1 (`source benchmarks/gpu-env.sh` does that)";

/// What to do when the provider or the session fails (libraries, driver, GPU).
#[cfg(feature = "cuda")]
const HINT_LIBRARIES: &str = "install the CUDA 13 and cuDNN 9 wheels beside onnxruntime-gpu \
    (nvidia-cuda-runtime nvidia-cublas nvidia-cufft nvidia-curand nvidia-cuda-nvrtc \
    nvidia-cudnn-cu13), `source benchmarks/gpu-env.sh`, and check that `nvidia-smi -L` lists a GPU";

/// A session with the CUDA execution provider (this build has none).
#[cfg(not(feature = "cuda"))]
pub(super) fn session(_: &SessionSource<'_>) -> Result<Session, Unavailable> {
    Err(Unavailable {
        reason: "this build of vigil-models has no CUDA support (its `cuda` feature is off)".into(),
        hint: HINT_BUILD,
    })
}

/// A session with the CUDA execution provider on GPU 0, the CUDA and cuDNN libraries
/// preloaded first.
#[cfg(feature = "cuda")]
pub(super) fn session(source: &SessionSource<'_>) -> Result<Session, Unavailable> {
    use ort::ep::ExecutionProvider;

    let libraries = super::libraries::preload();
    let unavailable =
        |what: String, hint| Unavailable { reason: format!("{what}{}", libraries.note()), hint };
    match ort::ep::CUDA::is_available() {
        Ok(true) => {}
        Ok(false) => {
            let library = crate::runtime::find_library()
                .map_or_else(|_| "in use".to_string(), |p| p.display().to_string());
            return Err(unavailable(
                format!(
                    "the ONNX Runtime library {library} is a CPU-only build \
                     (it has no CUDAExecutionProvider)"
                ),
                HINT_RUNTIME,
            ));
        }
        Err(e) => {
            return Err(unavailable(
                format!("cannot list ONNX Runtime's providers: {e}"),
                HINT_RUNTIME,
            ));
        }
    }
    let builder = source.builder().map_err(|e| unavailable(e.to_string(), HINT_LIBRARIES))?;
    let ep = ort::ep::CUDA::default().build().error_on_failure();
    let mut builder = builder.with_execution_providers([ep]).map_err(|e| {
        unavailable(format!("registering the CUDA execution provider failed: {e}"), HINT_LIBRARIES)
    })?;
    builder.commit_from_memory(source.bytes).map_err(|e| {
        unavailable(
            format!("creating a session with the CUDA provider failed: {e}"),
            HINT_LIBRARIES,
        )
    })
}
