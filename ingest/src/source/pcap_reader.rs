//! Reads pcap and pcapng through libpcap, from a file, a `.gz` file, stdin or an interface.
//!
//! libpcap wants a file descriptor, so a gzip-compressed input (detected by its
//! magic bytes, not its name) is inflated on a helper thread into a pipe whose
//! read end libpcap reads. Standard input goes through the same pipe, so it may
//! be compressed too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;
use pcap::{Active, Capture, Offline, Precision};

use crate::error::{IngestError, Result};
use crate::packet::{LinkType, RawPacket, TimestampUs};

use crate::gzip::GZIP_MAGIC;
/// Per-record overhead of a classic pcap record header, used to estimate progress.
const RECORD_HEADER_LEN: u64 = 16;
/// How long a live read waits for traffic before checking for a stop request.
const LIVE_POLL_MS: i32 = 100;

enum Handle {
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
    handle: Handle,
    name: String,
    linktype: LinkType,
    index: u64,
    bytes_read: u64,
    total_bytes: Option<u64>,
    inflater: Option<JoinHandle<io::Result<()>>>,
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
        drop(file);
        let cap = Capture::from_file_with_precision(path, Precision::Micro)
            .map_err(|e| not_capture(&name, e))?;
        Ok(Self::new(Handle::Offline(cap), name, None).with_total(total))
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
        Ok(Self::new(Handle::Live(cap), interface.to_string(), None))
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
        let fd = OwnedFd::from(pipe_rd).into_raw_fd();
        // SAFETY: `fd` is a freshly created pipe read end that we own; libpcap takes
        // ownership and closes it when the capture is dropped.
        let cap = unsafe { Capture::from_raw_fd_with_precision(fd, Precision::Micro) }
            .map_err(|e| not_capture(&name, e))?;
        Ok(Self::new(Handle::Offline(cap), name, Some(inflater)).with_total_opt(total))
    }

    fn new(handle: Handle, name: String, inflater: Option<JoinHandle<io::Result<()>>>) -> Self {
        let linktype = LinkType(match &handle {
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
            Handle::Offline(c) => match c.next_packet() {
                Ok(p) => (*p.header, p.data),
                Err(pcap::Error::NoMorePackets) => {
                    join_inflater(&mut self.inflater, &self.name)?;
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

/// Wait until `fd` is readable or `timeout_ms` passed (errors just end the wait).
fn wait_readable(fd: std::os::fd::RawFd, timeout_ms: i32) {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
}

fn join_inflater(inflater: &mut Option<JoinHandle<io::Result<()>>>, name: &str) -> Result<()> {
    if let Some(handle) = inflater.take() {
        let res = handle.join().unwrap_or_else(|_| Err(io::Error::other("inflater panicked")));
        res.map_err(|source| IngestError::Io { path: PathBuf::from(name), source })?;
    }
    Ok(())
}

fn capture_err(name: &str, index: u64, e: pcap::Error) -> IngestError {
    IngestError::Capture { source_name: name.to_string(), index, message: e.to_string() }
}

fn not_capture(name: &str, message: impl ToString) -> IngestError {
    IngestError::NotCapture { source_name: name.to_string(), message: message.to_string() }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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
}
