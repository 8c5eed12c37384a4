//! Reads pcap and pcapng through libpcap, from a file, a `.gz` file, stdin or an interface.
//! A plain classic pcap file is read by [`ClassicPcap`] instead, which libpcap's
//! results are checked against on the shared captures.
//!
//! libpcap wants a file descriptor, so a gzip-compressed input (detected by its
//! magic bytes, not its name) is inflated on a helper thread into a pipe whose
//! read end libpcap reads. Standard input goes through the same pipe, so it may
//! be compressed too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;
use pcap::{Active, Capture, Offline, Precision};

use crate::error::{IngestError, Result};
use crate::packet::{LinkType, RawPacket, TimestampUs};

use super::classic_pcap::ClassicPcap;
use crate::gzip::GZIP_MAGIC;
/// Per-record overhead of a classic pcap record header, used to estimate progress.
const RECORD_HEADER_LEN: u64 = 16;
/// How long a live read waits for traffic before checking for a stop request.
const LIVE_POLL_MS: i32 = 100;

enum Handle {
    Classic(ClassicPcap),
    Offline(Capture<Offline>),
    Live(Capture<Active>),
}

/// A packet as read, borrowing the reader's buffer until the next read.
#[derive(Debug, Clone, Copy)]
pub struct ReadPacket<'a> {
    /// 0-based index of the packet in its source.
    pub index: u64,
    /// Capture timestamp, µs since the epoch.
    pub ts: TimestampUs,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Original length on the wire.
    pub wire_len: u32,
    /// Link type of the source.
    pub linktype: LinkType,
}

impl<'a> ReadPacket<'a> {
    /// The frame in the decoder's terms.
    pub fn raw(&self) -> RawPacket<'a> {
        RawPacket { ts: self.ts, data: self.data, wire_len: self.wire_len, linktype: self.linktype }
    }
}

/// Reads packets from one capture source.
pub struct PcapReader {
    /// Declared before `inflater`: dropping it first closes the pipe's read end, so
    /// an inflater still writing stops with a broken pipe before it is joined.
    handle: Handle,
    name: String,
    linktype: LinkType,
    index: u64,
    bytes_read: u64,
    total_bytes: Option<u64>,
    inflater: Inflater,
    live_buf: Vec<u8>,
    stop: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for PcapReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapReader")
            .field("name", &self.name)
            .field("linktype", &self.linktype)
            .field("index", &self.index)
            .finish()
    }
}

impl PcapReader {
    /// Open a capture file; `-` reads standard input. Gzip is detected and inflated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path == Path::new("-") {
            let stdin = io::stdin();
            return Self::from_stream("-".into(), Box::new(stdin), None);
        }
        let io_err = |source| IngestError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io_err)?;
        let total = file.metadata().map_err(io_err)?.len();
        if total == 0 {
            return Err(not_capture(&path.display().to_string(), "empty file (0 bytes)"));
        }
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        let name = path.display().to_string();
        if n == 2 && magic == GZIP_MAGIC {
            let rest = io::Cursor::new(magic).chain(file);
            return Self::from_stream(name, Box::new(MultiGzDecoder::new(rest)), None)
                .map(|r| r.with_total(total));
        }
        if let Some(classic) = ClassicPcap::open(file).map_err(io_err)? {
            return Ok(Self::new(Handle::Classic(classic), name, Inflater(None)).with_total(total));
        }
        Self::open_with_libpcap(path).map(|r| r.with_total(total))
    }

    /// Open a (plain) capture file through libpcap, whatever its format.
    fn open_with_libpcap(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let cap = Capture::from_file_with_precision(path, Precision::Micro)
            .map_err(|e| not_capture(&name, e))?;
        Ok(Self::new(Handle::Offline(cap), name, Inflater(None)))
    }

    /// Open a live interface (promiscuous, full snaplen).
    pub fn live(interface: &str) -> Result<Self> {
        // Non-blocking, with our own poll: libpcap's TPACKET_V3 read timeout never fires
        // while no traffic arrives, and a stop request must still be noticed.
        let cap = Capture::from_device(interface)
            .and_then(|c| {
                c.promisc(true).snaplen(65535).timeout(100).precision(Precision::Micro).open()
            })
            .and_then(|c| c.setnonblock())
            .map_err(|e| capture_err(interface, 0, e))?;
        Ok(Self::new(Handle::Live(cap), interface.to_string(), Inflater(None)))
    }

    /// Read a capture from any byte stream (inflating gzip if it starts with the gzip magic).
    pub fn from_reader(
        name: impl Into<String>,
        reader: impl Read + Send + 'static,
    ) -> Result<Self> {
        Self::from_stream(name.into(), Box::new(reader), None)
    }

    fn from_stream(
        name: String,
        mut input: Box<dyn Read + Send>,
        total: Option<u64>,
    ) -> Result<Self> {
        let (pipe_rd, mut pipe_wr) =
            io::pipe().map_err(|source| IngestError::Io { path: PathBuf::from(&name), source })?;
        let inflater = std::thread::Builder::new()
            .name("vigil-pcap-inflate".into())
            .spawn(move || -> io::Result<()> {
                let mut magic = [0u8; 2];
                let n = read_up_to(&mut input, &mut magic)?;
                let head = io::Cursor::new(magic[..n].to_vec());
                let copied = if n == 2 && magic == GZIP_MAGIC {
                    io::copy(&mut MultiGzDecoder::new(head.chain(input)), &mut pipe_wr)
                } else {
                    io::copy(&mut head.chain(input), &mut pipe_wr)
                };
                match copied {
                    // libpcap stops reading at a truncated record and closes the pipe.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                    other => other.map(|_| ()),
                }?;
                pipe_wr.flush()
            })
            .map_err(|source| IngestError::Io { path: PathBuf::from(&name), source })?;
        let inflater = Inflater(Some(inflater));
        // libpcap opens the pipe by name, so that when it refuses the header it closes
        // its own stream (`pcap_fopen_offline` would leave a handed-over one open,
        // and the inflater blocked on it). Ours closes here either way.
        let by_name = format!("/dev/fd/{}", pipe_rd.as_raw_fd());
        let cap = Capture::from_file_with_precision(&by_name, Precision::Micro);
        drop(pipe_rd);
        let cap = cap.map_err(|e| not_capture(&name, e))?;
        Ok(Self::new(Handle::Offline(cap), name, inflater).with_total_opt(total))
    }

    fn new(handle: Handle, name: String, inflater: Inflater) -> Self {
        let linktype = LinkType(match &handle {
            Handle::Classic(c) => c.linktype(),
            Handle::Offline(c) => c.get_datalink().0 as u32,
            Handle::Live(c) => c.get_datalink().0 as u32,
        });
        Self {
            handle,
            name,
            linktype,
            index: 0,
            bytes_read: 0,
            total_bytes: None,
            inflater,
            live_buf: Vec::new(),
            stop: None,
        }
    }

    fn with_total(self, total: u64) -> Self {
        self.with_total_opt(Some(total))
    }

    fn with_total_opt(mut self, total: Option<u64>) -> Self {
        self.total_bytes = total;
        self
    }

    /// Make a live capture end (as if at end of file) once `stop` is set; it is
    /// checked every read timeout (100 ms).
    pub fn stop_when(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// The source's name as given (file path, `-`, or interface).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Link type of the capture.
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// Packets read so far.
    pub fn packets_read(&self) -> u64 {
        self.index
    }

    /// Approximate bytes of the (uncompressed) capture consumed so far, for progress.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Size of the input file when known (compressed size for `.gz`).
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// The next packet, `None` at the end of a file. A live source waits for traffic.
    ///
    /// An error names the source and the index of the packet that could not be read
    /// (a truncated record, a corrupt header). libpcap cannot resynchronise after
    /// one, so the caller should treat it as the end of this source.
    pub fn next_packet(&mut self) -> Result<Option<ReadPacket<'_>>> {
        let index = self.index;
        let (header, data): (pcap::PacketHeader, &[u8]) = match &mut self.handle {
            Handle::Classic(c) => match c.next_record() {
                Ok(Some(r)) => {
                    self.index += 1;
                    self.bytes_read += u64::from(r.caplen) + RECORD_HEADER_LEN;
                    let (ts, data, wire_len, linktype) = (r.ts, r.data, r.wire_len, self.linktype);
                    return Ok(Some(ReadPacket { index, ts, data, wire_len, linktype }));
                }
                Ok(None) => return Ok(None),
                Err(message) => {
                    return Err(IngestError::Capture {
                        source_name: self.name.clone(),
                        index,
                        message,
                    });
                }
            },
            Handle::Offline(c) => match c.next_packet() {
                Ok(p) => (*p.header, p.data),
                Err(pcap::Error::NoMorePackets) => {
                    self.inflater.join(&self.name)?;
                    return Ok(None);
                }
                Err(e) => return Err(capture_err(&self.name, index, e)),
            },
            // Live frames are copied out so that read timeouts can simply retry.
            Handle::Live(c) => loop {
                match c.next_packet() {
                    Ok(p) => {
                        self.live_buf.clear();
                        self.live_buf.extend_from_slice(p.data);
                        break (*p.header, &self.live_buf[..]);
                    }
                    Err(pcap::Error::TimeoutExpired) => {
                        if self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                            return Ok(None);
                        }
                        wait_readable(c.as_raw_fd(), LIVE_POLL_MS);
                    }
                    Err(e) => return Err(capture_err(&self.name, index, e)),
                }
            },
        };
        self.index += 1;
        self.bytes_read += header.caplen as u64 + RECORD_HEADER_LEN;
        // `timeval` field types vary by platform; widen whatever they are.
        #[allow(clippy::useless_conversion)]
        let ts = i64::from(header.ts.tv_sec) * 1_000_000 + i64::from(header.ts.tv_usec);
        Ok(Some(ReadPacket { index, ts, data, wire_len: header.len, linktype: self.linktype }))
    }
}

/// Wait until `fd` is readable or `timeout_ms` passed. An error only ends the wait: the
/// read that follows reports what is wrong with the capture.
fn wait_readable(fd: std::os::fd::RawFd, timeout_ms: i32) {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    if unsafe { libc::poll(&mut pfd, 1, timeout_ms) } < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            tracing::debug!("poll on the capture: {e}");
        }
    }
}

/// How long dropping a reader waits for its inflater thread to notice the closed pipe.
const INFLATER_DROP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The helper thread that feeds libpcap's pipe; joined at the end of the capture, or
/// when the reader is dropped early.
struct Inflater(Option<JoinHandle<io::Result<()>>>);

impl Inflater {
    /// Wait for the thread and report its I/O error, once.
    fn join(&mut self, name: &str) -> Result<()> {
        if let Some(handle) = self.0.take() {
            let res = handle.join().unwrap_or_else(|_| Err(io::Error::other("inflater panicked")));
            res.map_err(|source| IngestError::Io { path: PathBuf::from(name), source })?;
        }
        Ok(())
    }
}

impl Drop for Inflater {
    /// A reader dropped mid-capture: the pipe is closed by now, so a thread still
    /// copying ends with a broken pipe. One blocked reading its own input (a quiet
    /// stdin) is left detached after [`INFLATER_DROP_WAIT`] rather than hang the caller.
    fn drop(&mut self) {
        let Some(handle) = self.0.take() else { return };
        let deadline = std::time::Instant::now() + INFLATER_DROP_WAIT;
        while !handle.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if handle.is_finished() {
            let _ = handle.join();
        }
    }
}

fn capture_err(name: &str, index: u64, e: pcap::Error) -> IngestError {
    IngestError::Capture { source_name: name.to_string(), index, message: e.to_string() }
}

fn not_capture(name: &str, message: impl ToString) -> IngestError {
    IngestError::NotCapture { source_name: name.to_string(), message: message.to_string() }
}

pub(super) fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic little-endian pcap with one Ethernet frame of `len` bytes.
    fn tiny_pcap(frames: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        for (i, f) in frames.iter().enumerate() {
            v.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
            v.extend_from_slice(&250u32.to_le_bytes());
            v.extend_from_slice(&(f.len() as u32).to_le_bytes());
            v.extend_from_slice(&(f.len() as u32).to_le_bytes());
            v.extend_from_slice(f);
        }
        v
    }

    fn read_all(mut r: PcapReader) -> (Vec<(u64, i64, usize)>, Option<IngestError>) {
        let mut out = Vec::new();
        loop {
            match r.next_packet() {
                Ok(Some(p)) => out.push((p.index, p.ts, p.data.len())),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn reads_plain_and_gzip_files_alike() {
        let bytes = tiny_pcap(&[&[0u8; 60], &[1u8; 70]]);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.pcap");
        std::fs::write(&plain, &bytes).unwrap();
        let gz = dir.path().join("a.pcap.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();

        let (a, err_a) = read_all(PcapReader::open(&plain).unwrap());
        let (b, err_b) = read_all(PcapReader::open(&gz).unwrap());
        assert!(err_a.is_none() && err_b.is_none());
        assert_eq!(a, vec![(0, 1_700_000_000_000_250, 60), (1, 1_700_000_001_000_250, 70)]);
        assert_eq!(a, b);
    }

    /// Descriptors this process has open.
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
    }

    #[test]
    fn refused_or_abandoned_streams_release_their_pipe_and_thread() {
        // Bigger than a pipe's buffer, so an inflater left holding the pipe would block.
        let garbage = vec![0x5au8; 1 << 20];
        let mut big = tiny_pcap(&[&[7u8; 1000]]);
        for _ in 0..1000 {
            big.extend_from_slice(&tiny_pcap(&[&[7u8; 1000]])[24..]);
        }
        let before = open_fds();
        for _ in 0..200 {
            let e = PcapReader::from_reader("junk", io::Cursor::new(garbage.clone())).unwrap_err();
            assert!(e.to_string().starts_with("junk"), "{e}");
            let mut r = PcapReader::from_reader("big", io::Cursor::new(big.clone())).unwrap();
            assert!(r.next_packet().unwrap().is_some());
        }
        // Other tests run beside this one, so allow them a few descriptors.
        let after = open_fds();
        assert!(after < before + 50, "{before} descriptors open before, {after} after");
    }

    #[test]
    fn truncated_record_names_file_and_index() {
        let mut bytes = tiny_pcap(&[&[0u8; 60], &[1u8; 70]]);
        bytes.truncate(bytes.len() - 10);
        let (got, err) =
            read_all(PcapReader::from_reader("cut.pcap", io::Cursor::new(bytes)).unwrap());
        assert_eq!(got.len(), 1, "the complete first packet is kept");
        let msg = err.expect("truncation is reported").to_string();
        assert!(msg.starts_with("cut.pcap: packet 1:"), "{msg}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err =
            PcapReader::from_reader("junk", io::Cursor::new(b"not a capture at all".to_vec()))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("junk: not a pcap or pcapng capture:"), "{err}");
    }

    #[test]
    fn an_empty_file_is_not_a_capture() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pcap");
        std::fs::write(&empty, b"").unwrap();
        let err = PcapReader::open(&empty).unwrap_err().to_string();
        assert!(
            err.ends_with("empty.pcap: not a pcap or pcapng capture: empty file (0 bytes)"),
            "{err}"
        );
    }

    /// Everything `r` gives: packets (index, ts, bytes, wire length, link type), then
    /// the error that ended it, if any.
    type Whole = (Vec<(u64, i64, Vec<u8>, u32, u32)>, Option<String>);

    fn read_whole(mut r: PcapReader) -> Whole {
        let mut out = Vec::new();
        loop {
            match r.next_packet() {
                Ok(Some(p)) => out.push((p.index, p.ts, p.data.to_vec(), p.wire_len, p.linktype.0)),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    /// Whether `path` is read by our classic reader, and if so that it reads what
    /// libpcap reads (errors included).
    fn check_classic(path: &Path) -> bool {
        let ours = PcapReader::open(path).unwrap();
        if !matches!(ours.handle, Handle::Classic(_)) {
            return false;
        }
        let theirs = PcapReader::open_with_libpcap(path).unwrap();
        let (a, b) = (read_whole(ours), read_whole(theirs));
        assert_eq!(a.0.len(), b.0.len(), "{}: packets", path.display());
        if let Some(i) = (0..a.0.len()).find(|&i| a.0[i] != b.0[i]) {
            let head = |p: &(u64, i64, Vec<u8>, u32, u32)| (p.0, p.1, p.2.len(), p.3, p.4);
            panic!(
                "{}: packet {i}: {:?} != libpcap's {:?}",
                path.display(),
                head(&a.0[i]),
                head(&b.0[i])
            );
        }
        let b_end = b.1.map(|e| e.replace("libpcap error: ", ""));
        assert_eq!(a.1, b_end, "{}: how it ends", path.display());
        true
    }

    /// A classic pcap with `magic`'s byte order and resolution, and snaplen `snaplen`.
    fn pcap_bytes(swapped: bool, nanos: bool, snaplen: u32, frames: &[(u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| if swapped { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if swapped { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut v = Vec::new();
        v.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        v.extend_from_slice(&w16(2));
        v.extend_from_slice(&w16(4));
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&w32(snaplen));
        v.extend_from_slice(&w32(1));
        for (i, (frac, f)) in frames.iter().enumerate() {
            // Seconds past 2^31 too: libpcap reads them as signed.
            v.extend_from_slice(&w32(1_700_000_000u32.wrapping_add(i as u32 * 0x4000_0000)));
            v.extend_from_slice(&w32(*frac));
            v.extend_from_slice(&w32(f.len() as u32));
            v.extend_from_slice(&w32(f.len() as u32 + 4));
            v.extend_from_slice(f);
        }
        v
    }

    #[test]
    fn classic_files_read_as_libpcap_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; 2_000_000 / 8];
        let frames: Vec<(u32, &[u8])> = vec![
            (999_999_999, &[1u8; 60]),
            (0xf000_0000, &[2u8; 100]),
            (0, &big),
            (17, &[3u8; 61]),
        ];
        let mut n = 0;
        for swapped in [false, true] {
            for nanos in [false, true] {
                for snaplen in [0, 80, 65535, u32::MAX] {
                    let bytes = pcap_bytes(swapped, nanos, snaplen, &frames);
                    // Whole, cut inside a record's data, and cut inside a record header.
                    for cut in [bytes.len(), bytes.len() - 10, bytes.len() - 61 - 10] {
                        let f = dir.path().join(format!("c{n}.pcap"));
                        n += 1;
                        std::fs::write(&f, &bytes[..cut]).unwrap();
                        assert!(check_classic(&f), "{} is read by ClassicPcap", f.display());
                    }
                }
            }
        }
        // A record over libpcap's maximum capture length ends the file with an error.
        let huge = vec![9u8; 300_000];
        for snaplen in [0, 80] {
            let f = dir.path().join(format!("huge{snaplen}.pcap"));
            std::fs::write(&f, pcap_bytes(false, false, snaplen, &[(1, &[1u8; 60]), (2, &huge)]))
                .unwrap();
            assert!(check_classic(&f));
        }
        // Raw-IP files (libpcap renumbers the link type) stay with libpcap.
        let mut raw = pcap_bytes(false, false, 0, &frames);
        raw[20..24].copy_from_slice(&101u32.to_le_bytes());
        let f = dir.path().join("raw.pcap");
        std::fs::write(&f, raw).unwrap();
        assert!(!check_classic(&f));
    }

    #[test]
    fn the_shared_captures_read_as_libpcap_reads_them() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(dir) = crate::data_dir::shared_data(root, "pcap") else { return };
        let (mut classic, mut files) = (0, 0);
        let mut dirs = vec![dir];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "pcap" || x == "cap") {
                    files += 1;
                    classic += usize::from(check_classic(&p));
                }
            }
        }
        println!(
            "{classic} of {files} .pcap/.cap files read by ClassicPcap, as libpcap reads them"
        );
        assert!(classic > files / 2, "only {classic} of {files} files took the classic path");
    }
}
