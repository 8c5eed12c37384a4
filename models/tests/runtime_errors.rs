//! Errors when ONNX Runtime is missing or is not a usable library. One test per process
//! (this file), because it sets `ORT_DYLIB_PATH` and ONNX Runtime is loaded once per process.

use std::path::Path;

use vigil_models::{Error, Model};

#[test]
fn missing_or_broken_library_errors_say_what_to_do() {
    let artifact = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts/test-linear");

    // SAFETY: the only test in this process; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1") };
    let e = Model::load(&artifact).unwrap_err();
    assert!(matches!(e, Error::LibraryNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("/nonexistent/libonnxruntime.so.1.31.1"), "{text}");
    assert!(text.contains("pip install onnxruntime==1.31.1"), "{text}");

    // A file that is not a shared library: refused, naming it.
    let not_a_library = artifact.join("manifest.json");
    // SAFETY: as above.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", &not_a_library) };
    let e = Model::load(&artifact).unwrap_err();
    assert!(matches!(e, Error::LibraryLoad { .. }), "{e:?}");
    assert!(e.to_string().contains("manifest.json"), "{e}");
}
