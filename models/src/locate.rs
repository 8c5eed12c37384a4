//! Finding a model by name, with or without a source checkout.
//!
//! A model reference is a directory (holding `manifest.json` and the graph) or a bare
//! name such as `netfound`, looked up as `<dir>/<name>` in, in order:
//! 1. the directories given (`--models DIR`, a topology's `models`);
//! 2. `$VIGIL_MODELS` (directories separated by `:`);
//! 3. the package's share directory, [`SHARE_DIR`];
//! 4. `onnx/artifacts` beside the executable or in a directory above it (a build in
//!    a checkout), then in the working directory or above it;
//! 5. `onnx/artifacts` of the checkout the binary was built from, if it is still
//!    there (a build with its target directory elsewhere).

use std::path::{Component, Path, PathBuf};

/// Where the Debian package installs the models.
pub const SHARE_DIR: &str = "/usr/share/vigil/models";

/// Whether `reference` is a bare name (one plain path component), not a path.
pub fn is_model_name(reference: &Path) -> bool {
    let mut parts = reference.components();
    matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None))
}

/// The directories searched for a model name, in order, without repeats (only those
/// that exist).
pub fn search_dirs(given: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = given.to_vec();
    if let Some(env) = std::env::var_os("VIGIL_MODELS") {
        dirs.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs.push(PathBuf::from(SHARE_DIR));
    let exe = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let cwd = std::env::current_dir().ok();
    for start in [exe, cwd].into_iter().flatten() {
        dirs.extend(start.ancestors().map(|d| d.join("onnx/artifacts")));
    }
    if let Some(checkout) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
        dirs.push(checkout.join("onnx/artifacts"));
    }
    let mut seen = Vec::new();
    for d in dirs {
        let key = std::path::absolute(&d).unwrap_or_else(|_| d.clone());
        if d.is_dir() && !seen.iter().any(|(k, _): &(PathBuf, PathBuf)| *k == key) {
            seen.push((key, d));
        }
    }
    seen.into_iter().map(|(_, d)| d).collect()
}

/// The directory of the model `reference`: itself when it is a path or an existing
/// directory, else the first `<dir>/<name>` with a manifest among [`search_dirs`]. The
/// error names every place looked at.
pub fn resolve_model(reference: &Path, given: &[PathBuf]) -> Result<PathBuf, String> {
    if !is_model_name(reference) || reference.join("manifest.json").is_file() {
        return Ok(reference.to_path_buf());
    }
    let dirs = search_dirs(given);
    if let Some(found) =
        dirs.iter().map(|d| d.join(reference)).find(|d| d.join("manifest.json").is_file())
    {
        return Ok(found);
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no model named `{}` (looked in: {}; give a directory, or --models DIR / $VIGIL_MODELS)",
        reference.display(),
        if looked.is_empty() {
            format!("nothing: {SHARE_DIR} and onnx/artifacts are absent")
        } else {
            looked.join(", ")
        }
    ))
}

/// Every model found in [`search_dirs`]: (name, directory), the first of each name.
pub fn found_models(given: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for dir in search_dirs(given) {
        for d in crate::manifest::artifact_dirs(&dir).unwrap_or_default() {
            let name = d.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, d));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_plain_components() {
        assert!(is_model_name(Path::new("netfound")));
        for path in ["a/b", "./netfound", "../x", "/abs", ""] {
            assert!(!is_model_name(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn a_name_is_found_in_the_given_directories_first() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            std::fs::create_dir_all(d.join("m")).unwrap();
            std::fs::write(d.join("m/manifest.json"), "{}").unwrap();
        }
        let given = [b.path().to_path_buf(), a.path().to_path_buf()];
        assert_eq!(resolve_model(Path::new("m"), &given).unwrap(), b.path().join("m"));
        let path = a.path().join("m");
        assert_eq!(resolve_model(&path, &[]).unwrap(), path, "a path is itself");
        let e = resolve_model(Path::new("nope"), &given).unwrap_err();
        assert!(e.contains("no model named `nope`") && e.contains(&b.path().display().to_string()));
        let found = found_models(&given);
        assert_eq!(found.first(), Some(&("m".to_string(), b.path().join("m"))));
    }
}
