//! `vigil --version`: the version, the commit, the ONNX Runtime found and the models
//! found (see [`vigil_models::locate`]).

use vigil_models::locate::found_models;
use vigil_models::runtime::{ORT_VERSION, environment, find_library};

/// The long version text.
pub fn long_version() -> String {
    let mut out = format!("{} (git {})\n", env!("CARGO_PKG_VERSION"), env!("VIGIL_GIT_HASH"));
    let runtime = match find_library() {
        Ok(path) => {
            let name =
                path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let version = name.strip_prefix("libonnxruntime.so.").unwrap_or("unknown version");
            match environment() {
                Ok(_) => format!("{version} ({})", path.display()),
                Err(e) => format!("{version} ({}), not usable: {e}", path.display()),
            }
        }
        Err(e) => format!("not found (needs {ORT_VERSION}): {e}"),
    };
    out.push_str(&format!("ONNX Runtime: {runtime}\n"));
    let models = found_models(&[]);
    if models.is_empty() {
        out.push_str("models: none found (--models DIR, $VIGIL_MODELS, /usr/share/vigil/models, onnx/artifacts)");
    } else {
        out.push_str("models:");
        for (name, dir) in models {
            out.push_str(&format!("\n  {name}  {}", dir.display()));
        }
    }
    out
}
