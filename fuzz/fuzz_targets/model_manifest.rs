//! The model-manifest loader refuses bad manifests with an error naming the file and
//! never panics; an accepted manifest writes back to JSON that it accepts again, and
//! reading each family's preprocessing from it never panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vigil_models::{Manifest, Precision};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz/manifest.json");
    let manifest = match Manifest::from_json(text, path) {
        Ok(m) => m,
        Err(e) => {
            assert!(e.to_string().contains("fuzz/manifest.json"), "error without the file: {e}");
            return;
        }
    };
    let again = serde_json::to_string(&manifest).expect("a manifest serialises");
    Manifest::from_json(&again, path).expect("an accepted manifest is accepted again");
    for p in [Precision::Fp32, Precision::Fp16, Precision::Int8] {
        let _ = manifest.graph_file(p);
        let _ = manifest.graph_optimization(p);
    }
    let _ = manifest.netfound();
    let _ = manifest.flow_transformer();
    let _ = manifest.itransformer();
    let _ = manifest.hstu();
});
