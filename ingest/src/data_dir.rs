//! Where the shared third-party data set lives: `$VIGIL_DATA`, else the
//! `shared/data` folder beside the checkout. Used by `vigil conformance`, the
//! integration tests and the benches, which skip with a printed reason when the
//! data is absent, unless `VIGIL_REQUIRE_DATA=1` (CI with the data set): then a
//! missing data set fails the test.

use std::path::{Path, PathBuf};

/// The environment variable naming the data directory.
pub const DATA_ENV: &str = "VIGIL_DATA";

/// The environment variable that, set to `1`, turns a skip for missing data into a failure.
pub const REQUIRE_ENV: &str = "VIGIL_REQUIRE_DATA";

/// Whether `VIGIL_REQUIRE_DATA=1`: tests must not skip for missing data.
pub fn data_required() -> bool {
    std::env::var_os(REQUIRE_ENV).is_some_and(|v| v == "1")
}

/// `$VIGIL_DATA` when set and non-empty; else the first `<ancestor>/../shared/data`
/// that exists, walking up from `start` (a crate or checkout directory); else
/// `start/../shared/data`.
pub fn data_dir(start: &Path) -> PathBuf {
    if let Some(d) = std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    start
        .ancestors()
        .map(|a| a.join("../shared/data"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| start.join("../shared/data"))
}

/// `data_dir(start)/sub` when it exists; otherwise prints why (so a test that
/// skips says so) and returns `None`.
///
/// # Panics
///
/// When the path is absent and [`data_required`] (`VIGIL_REQUIRE_DATA=1`).
pub fn shared_data(start: &Path, sub: &str) -> Option<PathBuf> {
    let path = data_dir(start).join(sub);
    if path.exists() {
        return Some(path);
    }
    let why = format!("{} is absent (set {DATA_ENV} to the shared data set)", path.display());
    assert!(!data_required(), "{REQUIRE_ENV}=1 but {why}");
    println!("skipped: {why}");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_up_to_a_sibling_shared_folder() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("shared/data/pcap")).unwrap();
        let krate = root.path().join("checkout/ingest");
        std::fs::create_dir_all(&krate).unwrap();
        if std::env::var_os(DATA_ENV).is_none() && !data_required() {
            let found = data_dir(&krate);
            assert!(found.join("pcap").is_dir(), "{}", found.display());
            assert!(shared_data(&krate, "pcap").is_some());
            assert!(shared_data(&krate, "nothing-here").is_none());
        }
    }
}
