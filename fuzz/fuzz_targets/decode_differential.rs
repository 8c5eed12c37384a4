//! Differential decoding against etherparse: any frame, any of the link types
//! etherparse reads. The oracle must not panic and must be deterministic, and
//! where both decoders parse the frame cleanly (etherparse's strict
//! `SlicedPacket` accepts it, our decoder records no weird) the core fields (IP
//! version, addresses, protocol, ports) must agree, unless the disagreement is
//! one the oracle documents as out of scope or as etherparse's limitation.
//!
//! Input: `[link type index, frame bytes...]` (see `LINKTYPES`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_ingest::LinkType;
use vigil_ingest::packet::oracle::{self, Class};

/// The link types etherparse reads (must match `DIFF_LINKTYPES` in `seed-corpus.py`).
const LINKTYPES: [LinkType; 7] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::NULL,
    LinkType::LOOP,
];

fuzz_target!(|data: &[u8]| {
    let Some((&lt, frame)) = data.split_first() else { return };
    let linktype = LINKTYPES[usize::from(lt) % LINKTYPES.len()];
    let c = oracle::compare_frame(linktype, frame);
    assert_eq!(c, oracle::compare_frame(linktype, frame), "the oracle is deterministic");
    if c.both_clean() {
        for d in c.disagreements.iter().filter(|d| d.field.is_core()) {
            assert!(
                matches!(d.class, Class::OutOfScope(_) | Class::TheirsWrong(_)),
                "{}: ours {} / etherparse {} [{}]",
                d.field,
                d.ours,
                d.theirs,
                d.class
            );
        }
    }
});
