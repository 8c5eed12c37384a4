//! The capture readers (our classic-pcap parser, libpcap for pcapng and the rest, gzip
//! in front of either) never panic, never hand out a packet over libpcap's maximum
//! snapshot length, and name the source in every error.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vigil_ingest::PcapReader;

/// libpcap's `MAXIMUM_SNAPLEN`.
const MAX_SNAPLEN: usize = 262_144;

/// One scratch file per fuzzing process, rewritten for each input.
fn scratch() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("vigil-fuzz-{}.pcap", std::process::id()))
    })
}

/// As every Rust program's runtime does before `main` (which libFuzzer's `main`
/// replaces): a write to a pipe whose reader is gone fails with `EPIPE` instead of
/// killing the process. The stream reader's inflating thread relies on it when
/// libpcap stops reading a truncated capture.
fn ignore_sigpipe() {
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE, and `signal` has no other
    // precondition; no handler of ours runs.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR, "signal(SIGPIPE, SIG_IGN) failed");
}

fn read_all(mut reader: PcapReader, name: &str) {
    let mut expected = 0u64;
    // Bounded: a packet record takes at least 16 bytes of input (gzip can inflate, so
    // the bound is generous rather than exact).
    for _ in 0..100_000 {
        match reader.next_packet() {
            Ok(Some(p)) => {
                assert!(p.data.len() <= MAX_SNAPLEN, "{} captured bytes", p.data.len());
                assert_eq!(p.index, expected, "packet indexes count up from 0");
                expected += 1;
            }
            Ok(None) => return,
            Err(e) => {
                assert!(e.to_string().contains(name), "error without the source: {e}");
                return;
            }
        }
    }
}

fuzz_target!(init: ignore_sigpipe(), |data: &[u8]| {
    // From a file: the classic reader when the header is one it takes, else libpcap.
    let path = scratch();
    std::fs::File::create(path).and_then(|mut f| f.write_all(data)).expect("scratch file");
    let name = path.display().to_string();
    match PcapReader::open(path) {
        Ok(reader) => read_all(reader, &name),
        Err(e) => assert!(e.to_string().contains(&name), "error without the source: {e}"),
    }
    // From a stream (stdin, Kafka): always libpcap, through the inflating pipe.
    match PcapReader::from_reader("fuzz-stream", std::io::Cursor::new(data.to_vec())) {
        Ok(reader) => read_all(reader, "fuzz-stream"),
        Err(e) => assert!(e.to_string().contains("fuzz-stream"), "error without the source: {e}"),
    }
});
