//! Finding the ONNX Runtime library and the process-wide ONNX Runtime environment.
//!
//! `ort` is built with `load-dynamic`: nothing is linked at build time, and the library is
//! loaded on first use from, in order:
//!
//! 1. `ORT_DYLIB_PATH`, when set (it wins; a path that does not exist is an error);
//! 2. the project's `.venv`: `.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*`
//!    in the current directory or any directory above it, then next to the running executable
//!    or above it. `python3 -m venv .venv && .venv/bin/pip install onnxruntime==1.31.1` puts it
//!    there;
//! 3. `/usr/lib/vigil/libonnxruntime.so.1.31.1`, which the Debian package's
//!    `vigil-setup-onnxruntime` links to a system library or to the wheel it installs in
//!    `/usr/lib/vigil/venv`.
//!
//! Otherwise [`Error::LibraryNotFound`] says how to install it. A library older than
//! [`ORT_VERSION`] is refused with [`Error::RuntimeVersion`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;

use crate::error::{Error, Result};

/// The ONNX Runtime version this crate is built for (`ort`'s `api-31`).
pub const ORT_VERSION: &str = "1.31.1";

/// The environment variable that names the library file; it wins over the `.venv` search.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// The library's file name inside the `onnxruntime` wheel.
const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";
/// Where the Debian package's `vigil-setup-onnxruntime` links the library.
const PACKAGE_DIR: &str = "/usr/lib/vigil";

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// For tests that need ONNX Runtime: whether its library is there. When it is not,
/// prints why (the test then skips), or panics when `VIGIL_REQUIRE_DATA=1` (CI, which
/// installs it): a run that must test everything never skips quietly.
pub fn available_for_tests() -> bool {
    match find_library() {
        Ok(_) => true,
        Err(e) => {
            assert!(
                !vigil_ingest::data_dir::data_required(),
                "VIGIL_REQUIRE_DATA=1 but there is no ONNX Runtime library: {e}"
            );
            println!("skipped: no ONNX Runtime library: {e}");
            false
        }
    }
}

/// Where the ONNX Runtime library is: `ORT_DYLIB_PATH`, else the project's `.venv`
/// (in the working directory or above, or beside the executable or above), else
/// `/usr/lib/vigil/libonnxruntime.so.1.31.1` (the Debian package's link).
pub fn find_library() -> Result<PathBuf> {
    if let Some(value) = std::env::var_os(ORT_DYLIB_PATH).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::LibraryNotFound {
                reason: format!("{ORT_DYLIB_PATH}={} does not exist", path.display()),
                version: ORT_VERSION,
            })
        };
    }
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        roots.extend(dir.ancestors().map(Path::to_path_buf));
    }
    for root in &roots {
        if let Some(path) = find_in_venv(&root.join(".venv")) {
            return Ok(path);
        }
    }
    let packaged = Path::new(PACKAGE_DIR).join(LIBRARY_FILE);
    if packaged.is_file() {
        return Ok(packaged);
    }
    Err(Error::LibraryNotFound {
        reason: format!(
            "{ORT_DYLIB_PATH} is not set, no .venv with onnxruntime in {} or above, and no \
             {} (the package's vigil-setup-onnxruntime puts it there)",
            roots
                .first()
                .map_or_else(|| "the current directory".into(), |p| p.display().to_string()),
            packaged.display()
        ),
        version: ORT_VERSION,
    })
}

/// The library inside one virtual environment, preferring the exact version.
fn find_in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    let mut pythons: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages/onnxruntime/capi"))
        .collect();
    pythons.sort();
    for capi in &pythons {
        let exact = capi.join(LIBRARY_FILE);
        if exact.is_file() {
            return Some(exact);
        }
    }
    // Another version: loading it gives a clear version error if it is too old.
    pythons.iter().find_map(|capi| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(capi)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
            })
            .collect();
        found.sort();
        found.pop()
    })
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
///
/// ONNX Runtime allows one environment per process; every [`crate::Model`] shares it. A failure
/// is not cached, so a later call can succeed once the library is installed.
pub fn environment() -> Result<Environment> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let path = find_library()?;
    let builder = ort::init_from(&path).map_err(|e| load_error(&path, e))?;
    let env = builder
        .with_name("vigil")
        .build()
        .map_err(|e| Error::Environment { message: e.to_string() })?;
    tracing::debug!(library = %path.display(), "ONNX Runtime loaded");
    *slot = Some(env.clone());
    Ok(env)
}

fn load_error(path: &Path, e: ort::LoadDynamicError) -> Error {
    match e {
        ort::LoadDynamicError::BadVersion { version_str, path } => {
            Error::RuntimeVersion { path, found: version_str, needed: ORT_VERSION }
        }
        other => Error::LibraryLoad { path: path.to_path_buf(), message: other.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_exact_version_in_a_venv() {
        let dir = tempfile::tempdir().unwrap();
        let capi = dir.path().join(".venv/lib/python3.11/site-packages/onnxruntime/capi");
        std::fs::create_dir_all(&capi).unwrap();
        assert_eq!(find_in_venv(&dir.path().join(".venv")), None);
        std::fs::write(capi.join("libonnxruntime.so.1.20.0"), b"").unwrap();
        assert_eq!(
            find_in_venv(&dir.path().join(".venv")),
            Some(capi.join("libonnxruntime.so.1.20.0"))
        );
        std::fs::write(capi.join(LIBRARY_FILE), b"").unwrap();
        assert_eq!(find_in_venv(&dir.path().join(".venv")), Some(capi.join(LIBRARY_FILE)));
    }

    #[test]
    fn not_found_says_how_to_install() {
        let e = Error::LibraryNotFound { reason: "test".into(), version: ORT_VERSION };
        let text = e.to_string();
        assert!(text.contains("pip install onnxruntime==1.31.1"), "{text}");
        assert!(text.contains("ORT_DYLIB_PATH"), "{text}");
    }
}
