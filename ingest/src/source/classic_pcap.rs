//! Classic pcap files read straight from a large buffer: records are parsed in place,
//! one copy from the kernel, where libpcap's offline reader copies each record twice
//! through 4 KiB stdio reads (`vigil flows` spent ~17% of its reading thread there).
//!
//! Only files that this reader handles exactly as libpcap does take this path: the
//! four standard magic numbers (µs or ns, either byte order), version 2.4, and link
//! types that libpcap does not renumber (see [`SAME_DLT`]). Anything else (pcapng,
//! `LINKTYPE_RAW`, which libpcap reports as `DLT_RAW`, FCS bits) stays with libpcap.
//! Records follow libpcap's rules: a capture length over 262,144 is an error; one over
//! the file's snapshot length keeps that many bytes; a short record is an error with
//! libpcap's wording.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};

/// libpcap's `MAXIMUM_SNAPLEN` (and `max_snaplen_for_dlt` of every type in [`SAME_DLT`]).
const MAX_SNAPLEN: u32 = 262_144;
/// The read buffer; it grows when one record is larger.
const BUF: usize = 1 << 20;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// Link types whose DLT number libpcap reports unchanged: NULL, Ethernet, PPP, 802.11,
/// LOOP, Linux SLL, radiotap, PPI, IPv4, IPv6, NFLOG, Linux SLL2.
const SAME_DLT: [u32; 12] = [0, 1, 9, 105, 108, 113, 127, 192, 228, 229, 239, 276];

/// A classic pcap file being read.
pub(crate) struct ClassicPcap {
    file: File,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    swapped: bool,
    nanos: bool,
    snapshot: u32,
    linktype: u32,
}

/// One record, borrowing the reader's buffer.
pub(crate) struct Record<'a> {
    /// µs since the epoch.
    pub ts: i64,
    /// Captured bytes (at most the snapshot length).
    pub data: &'a [u8],
    /// The record's capture length as stored (for progress).
    pub caplen: u32,
    /// Original length on the wire.
    pub wire_len: u32,
}

impl ClassicPcap {
    /// The reader of `file` (read from its start) when its header is one this reader
    /// handles; `None` leaves the file to libpcap.
    pub fn open(mut file: File) -> io::Result<Option<Self>> {
        file.seek(SeekFrom::Start(0))?;
        let mut header = [0u8; FILE_HEADER];
        if super::pcap_reader::read_up_to(&mut file, &mut header)? < FILE_HEADER {
            return Ok(None);
        }
        // libpcap's time fields depend on whether the file is in the host's byte order
        // (see `next_record`); this reader is written for little-endian hosts.
        if cfg!(target_endian = "big") {
            return Ok(None);
        }
        let magic = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let (swapped, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            _ => return Ok(None),
        };
        let u16_at = |i: usize| {
            let v = u16::from_le_bytes([header[i], header[i + 1]]);
            if swapped { v.swap_bytes() } else { v }
        };
        let u32_at = |i: usize| word(&header[i..i + 4], swapped);
        let (major, minor, snaplen, linktype) = (u16_at(4), u16_at(6), u32_at(16), u32_at(20));
        if (major, minor) != (2, 4) || !SAME_DLT.contains(&linktype) {
            return Ok(None);
        }
        // As libpcap: a snapshot length of 0, or over the maximum (negative as an int), is the maximum.
        let snapshot = if snaplen == 0 || snaplen > MAX_SNAPLEN { MAX_SNAPLEN } else { snaplen };
        Ok(Some(ClassicPcap {
            file,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            eof: false,
            swapped,
            nanos,
            snapshot,
            linktype,
        }))
    }

    /// The file's link type (the same number libpcap reports).
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The next record; `None` at the end of the file; an error (libpcap's wording)
    /// for a short or impossible record, after which the file cannot be read on.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, String> {
        let have = self.fill(RECORD_HEADER).map_err(|e| e.to_string())?;
        if have == 0 {
            return Ok(None);
        }
        if have < RECORD_HEADER {
            return Err(format!(
                "truncated dump file; tried to read {RECORD_HEADER} header bytes, only got {have}"
            ));
        }
        let h = &self.buf[self.start..self.start + RECORD_HEADER];
        let (sec, frac) = (word(&h[0..4], self.swapped), word(&h[4..8], self.swapped));
        let (caplen, wire_len) = (word(&h[8..12], self.swapped), word(&h[12..16], self.swapped));
        if caplen > MAX_SNAPLEN {
            // libpcap names the snapshot length here, which is never above the maximum.
            return Err(format!(
                "invalid packet capture length {caplen}, bigger than snaplen of {}",
                self.snapshot
            ));
        }
        let need = RECORD_HEADER + caplen as usize;
        let have = self.fill(need).map_err(|e| e.to_string())?;
        if have < need {
            return Err(format!(
                "truncated dump file; tried to read {caplen} captured bytes, only got {}",
                have - RECORD_HEADER
            ));
        }
        let at = self.start + RECORD_HEADER;
        let kept = caplen.min(self.snapshot) as usize;
        self.start += need;
        // As libpcap: a file in the host's (little-endian) byte order has signed 32-bit
        // time fields, a swapped one unsigned ones (its swap yields an unsigned value).
        let widen = |v: u32| if self.swapped { i64::from(v) } else { i64::from(v as i32) };
        let (sec, frac) = (widen(sec), widen(frac));
        let micros = if self.nanos { frac / 1000 } else { frac };
        Ok(Some(Record {
            ts: sec * 1_000_000 + micros,
            data: &self.buf[at..at + kept],
            caplen,
            wire_len,
        }))
    }

    /// Make at least `need` unread bytes available unless the file ends first;
    /// returns how many are.
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        if self.end - self.start >= need || self.eof {
            return Ok(self.end - self.start);
        }
        self.buf.copy_within(self.start..self.end, 0);
        (self.end, self.start) = (self.end - self.start, 0);
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
        // Fill the whole buffer: less than that means the file ended.
        let n = super::pcap_reader::read_up_to(&mut self.file, &mut self.buf[self.end..])?;
        self.eof = self.end + n < self.buf.len();
        self.end += n;
        Ok(self.end)
    }
}

/// A 32-bit field in the file's byte order.
fn word(b: &[u8], swapped: bool) -> u32 {
    let v = u32::from_le_bytes(b.try_into().expect("4 bytes"));
    if swapped { v.swap_bytes() } else { v }
}
