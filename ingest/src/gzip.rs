//! Transparent gunzip: a stream that starts with the gzip magic bytes is
//! inflated (all members), anything else is read as is, whatever its name.
//!
//! Used by the action-log, flow-record and metrics readers
//! ([`maybe_gunzip`], [`open_maybe_gzip`]) and by the pcap reader
//! ([`GZIP_MAGIC`]), so `.gz` inputs work everywhere.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// The first two bytes of every gzip member.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Buffer size of both the raw and the inflated stream.
const BUF_LEN: usize = 64 * 1024;

/// A buffered stream, inflated when it was gzip. `Send` when `R` is.
#[derive(Debug)]
pub enum MaybeGzip<R: Read> {
    /// Not gzip: the bytes as they are.
    Plain(BufReader<R>),
    /// Gzip: the inflated bytes.
    Gzip(Box<BufReader<MultiGzDecoder<BufReader<R>>>>),
}

/// Buffers `input` and, if it starts with [`GZIP_MAGIC`], inflates it. The
/// only error is one from reading the first bytes.
pub fn maybe_gunzip<R: Read>(input: R) -> io::Result<MaybeGzip<R>> {
    let mut buffered = BufReader::with_capacity(BUF_LEN, input);
    Ok(if buffered.fill_buf()?.starts_with(&GZIP_MAGIC) {
        MaybeGzip::Gzip(Box::new(BufReader::with_capacity(BUF_LEN, MultiGzDecoder::new(buffered))))
    } else {
        MaybeGzip::Plain(buffered)
    })
}

/// Opens `path` through [`maybe_gunzip`].
pub fn open_maybe_gzip(path: impl AsRef<Path>) -> io::Result<Box<dyn BufRead + Send>> {
    Ok(Box::new(maybe_gunzip(File::open(path)?)?))
}

impl<R: Read> Read for MaybeGzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeGzip::Plain(r) => r.read(buf),
            MaybeGzip::Gzip(r) => r.read(buf),
        }
    }
}

impl<R: Read> BufRead for MaybeGzip<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            MaybeGzip::Plain(r) => r.fill_buf(),
            MaybeGzip::Gzip(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            MaybeGzip::Plain(r) => r.consume(amt),
            MaybeGzip::Gzip(r) => r.consume(amt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plain_and_gzip_read_alike() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a\nb\n").unwrap();
        let packed = gz.finish().unwrap();
        for bytes in [&b"a\nb\n"[..], &packed[..]] {
            let mut out = String::new();
            maybe_gunzip(bytes).unwrap().read_to_string(&mut out).unwrap();
            assert_eq!(out, "a\nb\n");
        }
        assert!(matches!(maybe_gunzip(&b""[..]).unwrap(), MaybeGzip::Plain(_)));
    }
}
