//! A [`FlowSink`] that formats and writes flows on a thread of its own, so that on a
//! machine with two cores the output (conn.log formatting, Parquet encoding) overlaps
//! with reading packets and updating the flow table.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use vigil_ingest::{FlowRecord, FlowSink};

use super::FlowWriter;

/// Flows handed to the writer thread at once.
const CHUNK: usize = 1024;
/// Chunks in flight before [`FlowSink::flow`] waits for the writer (bounded memory).
const IN_FLIGHT: usize = 8;

/// Sends flows in chunks to a thread that owns the [`FlowWriter`]. Order is kept. The
/// first write error stops the thread; later flows are dropped and
/// [`finish`](Self::finish) returns that error.
pub struct ThreadedWriterSink {
    pending: Vec<FlowRecord>,
    tx: Option<SyncSender<Vec<FlowRecord>>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl ThreadedWriterSink {
    /// Start the writer thread.
    pub fn new(writer: Box<dyn FlowWriter>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("vigil-flow-writer".into())
            .spawn(move || write_all(writer, rx))?;
        Ok(Self { pending: Vec::with_capacity(CHUNK), tx: Some(tx), thread: Some(thread) })
    }

    /// Write what is pending, close the writer (footers, Parquet metadata) and return
    /// the first error of the writer thread.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.send();
        self.tx = None;
        let thread = self.thread.take().expect("joined once");
        thread.join().unwrap_or_else(|_| Err(std::io::Error::other("the flow writer panicked")))
    }

    fn send(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        // A closed channel means the writer stopped on an error, which finish() returns.
        if let Some(tx) = &self.tx
            && tx.send(chunk).is_err()
        {
            self.tx = None;
        }
    }
}

impl FlowSink for ThreadedWriterSink {
    fn flow(&mut self, flow: FlowRecord) {
        if self.tx.is_none() {
            return;
        }
        self.pending.push(flow);
        if self.pending.len() >= CHUNK {
            self.send();
        }
    }
}

impl Drop for ThreadedWriterSink {
    /// Without [`finish`](Self::finish) (an early error return), stop the thread
    /// without waiting for it to write everything.
    fn drop(&mut self) {
        self.tx = None;
    }
}

/// The writer thread: every chunk in order, then the writer's own finish.
fn write_all(
    mut writer: Box<dyn FlowWriter>,
    rx: Receiver<Vec<FlowRecord>>,
) -> std::io::Result<()> {
    for chunk in rx {
        for flow in &chunk {
            writer.write(flow)?;
        }
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::output::test_flows::sample;
    use crate::output::{FlowFormat, writer_for};

    /// An output shared with the test, optionally failing after `limit` bytes.
    #[derive(Clone)]
    struct Shared(Arc<Mutex<Vec<u8>>>, usize);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut v = self.0.lock().unwrap();
            if v.len() + b.len() > self.1 {
                return Err(std::io::Error::other("disk full"));
            }
            v.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn flows(n: usize) -> Vec<FlowRecord> {
        let base = sample();
        (0..n)
            .map(|i| {
                let mut f = base[i % base.len()].clone();
                f.flow_id = i as u64;
                f.orig_p = (i % 65536) as u16;
                f
            })
            .collect()
    }

    fn written(limit: usize, n: usize, threaded: bool) -> (std::io::Result<()>, Vec<u8>) {
        let out = Shared(Arc::default(), limit);
        let writer = writer_for(FlowFormat::Json, Box::new(out.clone()), "s").unwrap();
        let result = if threaded {
            let mut sink = ThreadedWriterSink::new(writer).unwrap();
            flows(n).into_iter().for_each(|f| sink.flow(f));
            sink.finish()
        } else {
            let mut sink = crate::output::WriterSink::new(writer);
            flows(n).into_iter().for_each(|f| sink.flow(f));
            sink.finish()
        };
        let bytes = out.0.lock().unwrap().clone();
        (result, bytes)
    }

    #[test]
    fn writes_what_the_plain_sink_writes_in_order() {
        let (ok, threaded) = written(usize::MAX, 5000, true);
        ok.unwrap();
        let (ok, plain) = written(usize::MAX, 5000, false);
        ok.unwrap();
        assert_eq!(threaded, plain);
        assert_eq!(threaded.iter().filter(|&&b| b == b'\n').count(), 5000);
    }

    #[test]
    fn a_write_error_is_returned_and_the_rest_dropped() {
        let (result, bytes) = written(100_000, 50_000, true);
        let e = result.unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        assert!(bytes.len() <= 100_000);
    }
}
