//! Finding and preloading the CUDA 13 and cuDNN 9 libraries that ONNX Runtime's CUDA provider
//! (`libonnxruntime_providers_cuda.so`) needs, before the first CUDA session is made.
//!
//! The libraries come from the `nvidia-*` Python wheels (nvidia-cuda-runtime, nvidia-cublas,
//! nvidia-cufft, nvidia-curand, nvidia-cuda-nvrtc, nvidia-cudnn-cu13). They are looked for in
//! `site-packages/nvidia/cu13/lib` (the CUDA 13 wheels' layout) and every other
//! `site-packages/nvidia/*/lib` (cuDNN's, and the one-folder-per-library layout), in each of:
//!
//! 1. the directories named by [`GPU_SITE`] (`VIGIL_GPU_SITE`, colon-separated);
//! 2. the `site-packages` holding the ONNX Runtime library in use
//!    (`…/site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1`).
//!
//! A library found nowhere there is loaded by its name, so `LD_LIBRARY_PATH` and the system's
//! library directories are tried last. Each one is loaded once per process, dependencies first,
//! the way `ort::ep::cuda::preload_dylibs` does: the dynamic loader then resolves the provider's
//! dependencies to these already-loaded copies by their names.
// Without the `cuda` feature nothing is preloaded; the search is still built and tested.
#![cfg_attr(not(feature = "cuda"), allow(dead_code))]

use std::path::PathBuf;
use std::sync::OnceLock;

/// The environment variable naming `site-packages` directories (colon-separated) to look for the
/// `nvidia-*` wheels' libraries in, before the one holding ONNX Runtime.
pub(crate) const GPU_SITE: &str = "VIGIL_GPU_SITE";

/// The libraries, each after those it depends on (`ort::ep::cuda::{CUDA_DYLIBS, CUDNN_DYLIBS}`).
pub(crate) const LIBRARIES: &[&str] = &[
    "libcudart.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libcufft.so.12",
    "libcurand.so.10",
    "libnvrtc.so.13",
    "libcudnn.so.9",
    "libcudnn_graph.so.9",
    "libcudnn_ops.so.9",
    "libcudnn_heuristic.so.9",
    "libcudnn_adv.so.9",
    "libcudnn_cnn.so.9",
    "libcudnn_engines_precompiled.so.9",
    "libcudnn_engines_runtime_compiled.so.9",
];

/// What [`preload`] did.
#[derive(Debug, Default)]
pub(crate) struct Preloaded {
    /// The directories searched.
    pub searched: Vec<PathBuf>,
    /// Each library loaded, as the path (or bare name) it was loaded from.
    pub loaded: Vec<PathBuf>,
    /// Each library that could not be loaded, with the loader's reason.
    pub missing: Vec<String>,
}

impl Preloaded {
    /// `"; CUDA libraries not loaded: …"` for error messages, or nothing when all loaded.
    pub fn note(&self) -> String {
        let Some(first) = self.missing.first() else { return String::new() };
        let searched: Vec<String> = self.searched.iter().map(|p| p.display().to_string()).collect();
        let what = if self.loaded.is_empty() {
            format!(
                "none of the {} CUDA 13 / cuDNN 9 libraries loaded, e.g. {first}",
                self.missing.len()
            )
        } else {
            format!("CUDA libraries not loaded: {}", self.missing.join(", "))
        };
        format!(
            "; {what} (looked in [{}], then LD_LIBRARY_PATH and the system's library directories)",
            searched.join(", ")
        )
    }
}

/// Loads the libraries once per process (later calls return the first result).
pub(crate) fn preload() -> &'static Preloaded {
    static PRELOADED: OnceLock<Preloaded> = OnceLock::new();
    PRELOADED.get_or_init(|| {
        let dirs = library_dirs(&site_dirs());
        let preloaded = load(dirs, LIBRARIES);
        tracing::debug!(
            loaded = ?preloaded.loaded,
            missing = ?preloaded.missing,
            searched = ?preloaded.searched,
            "CUDA libraries preloaded"
        );
        preloaded
    })
}

/// The `site-packages` directories to search: [`GPU_SITE`]'s, then ONNX Runtime's.
fn site_dirs() -> Vec<PathBuf> {
    let mut sites: Vec<PathBuf> = std::env::var_os(GPU_SITE)
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    // …/site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1
    if let Ok(library) = crate::runtime::find_library()
        && let Some(site) = library.ancestors().nth(3)
    {
        sites.push(site.to_path_buf());
    }
    sites
}

/// The library directories of the `nvidia-*` wheels in `sites`: `nvidia/cu13/lib` first, then
/// the other `nvidia/*/lib` in name order; each once.
pub(crate) fn library_dirs(sites: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for site in sites {
        let nvidia = site.join("nvidia");
        let mut others: Vec<PathBuf> = std::fs::read_dir(&nvidia)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path().join("lib")).collect())
            .unwrap_or_default();
        others.sort();
        let cu13 = nvidia.join("cu13/lib");
        for dir in std::iter::once(cu13).chain(others) {
            if dir.is_dir() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Where `name` is in `dirs`, the first found.
pub(crate) fn locate(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Loads each of `names`, from `dirs` when there, else by name.
fn load(searched: Vec<PathBuf>, names: &[&str]) -> Preloaded {
    let mut preloaded = Preloaded { searched, ..Preloaded::default() };
    for name in names {
        let target = locate(name, &preloaded.searched).unwrap_or_else(|| PathBuf::from(name));
        match ort::util::preload_dylib(target.as_path()) {
            Ok(()) => preloaded.loaded.push(target),
            Err(e) => {
                // libloading says "dlopen failed"; the loader's own words are its source.
                let why =
                    std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
                preloaded.missing.push(format!("{name} ({why})"));
            }
        }
    }
    preloaded
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }

    #[test]
    fn finds_both_wheel_layouts_cu13_first() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        // a: CUDA 13 wheels (one folder), cuDNN beside; b: one folder per library.
        touch(&a.join("nvidia/cu13/lib/libcudart.so.13"));
        touch(&a.join("nvidia/cudnn/lib/libcudnn.so.9"));
        touch(&b.join("nvidia/cuda_runtime/lib/libcudart.so.13"));
        touch(&b.join("nvidia/cublas/lib/libcublas.so.13"));
        std::fs::create_dir_all(b.join("nvidia/no_lib_here")).unwrap();
        let dirs = library_dirs(&[a.clone(), b.clone(), a.clone(), tmp.path().join("none")]);
        assert_eq!(
            dirs,
            [
                a.join("nvidia/cu13/lib"),
                a.join("nvidia/cudnn/lib"),
                b.join("nvidia/cublas/lib"),
                b.join("nvidia/cuda_runtime/lib"),
            ]
        );
        assert_eq!(
            locate("libcudart.so.13", &dirs),
            Some(a.join("nvidia/cu13/lib/libcudart.so.13"))
        );
        assert_eq!(
            locate("libcublas.so.13", &dirs),
            Some(b.join("nvidia/cublas/lib/libcublas.so.13"))
        );
        assert_eq!(locate("libcufft.so.12", &dirs), None);
    }

    #[test]
    fn a_library_that_does_not_load_is_reported_with_where_we_looked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nvidia/cu13/lib");
        touch(&dir.join("libvigil_not_a_library.so.1")); // empty: not an ELF file
        let p = load(vec![dir.clone()], &["libvigil_not_a_library.so.1", "libvigil_absent.so.1"]);
        assert!(p.loaded.is_empty());
        assert_eq!(p.missing.len(), 2, "{:?}", p.missing);
        assert!(p.missing[1].starts_with("libvigil_absent.so.1 ("), "{:?}", p.missing);
        let note = p.note();
        assert!(note.contains("none of the 2") && note.contains("libvigil_not_a_library.so.1 ("));
        assert!(note.contains(&dir.display().to_string()), "{note}");
        let some = Preloaded { loaded: vec!["libcudart.so.13".into()], ..p };
        assert!(
            some.note().contains("not loaded: libvigil_not_a_library.so.1 ("),
            "{}",
            some.note()
        );
        assert!(some.note().contains(", libvigil_absent.so.1 ("), "{}", some.note());
        assert_eq!(Preloaded::default().note(), "");
    }

    #[test]
    fn gpu_env_sh_looks_for_the_same_libraries() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks/gpu-env.sh");
        let text = std::fs::read_to_string(&script).unwrap();
        for lib in LIBRARIES {
            assert!(text.contains(lib), "{} does not look for {lib}", script.display());
        }
    }
}
