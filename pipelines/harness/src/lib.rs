//! Vigil's test harnesses, outside the library that ships:
//!
//! - [`conformance`]: compares our flows with Zeek, Suricata and nDPI outputs on the
//!   shared captures (run by `cargo test -p vigil-harness` and by
//!   `vigil-harness conformance`);
//! - [`bench`]: end-to-end throughput, side by side with peer tools
//!   (`vigil-harness bench …`).
#![deny(missing_docs)]

pub mod bench;
pub mod cli;
pub mod conformance;
