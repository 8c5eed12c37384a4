//! Reading standard input on its own thread, so that a pipe that stalls
//! (`tail -F access.log | vigil run`) does not hold back a batch whose time is up: the
//! source waits for the next record at most until its pending batch is due.

use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use vigil_ingest::DeadLetter;

use super::files::RecordReader;

/// Records read ahead at most.
const AHEAD: usize = 1024;

/// What waiting for the next record gave.
pub(super) enum Polled<T> {
    /// A record.
    Item(T),
    /// Nothing within the wait.
    Idle,
    /// The end of the input.
    End,
}

/// One read: a record (or the end), with the dead letters and rows read by then.
struct Step<T> {
    item: Option<T>,
    dead: Vec<DeadLetter>,
    rows: u64,
}

/// A [`RecordReader`] made and read on a thread of its own.
pub(super) struct ReadAhead<T> {
    rx: Receiver<anyhow::Result<Step<T>>>,
    dead: Vec<DeadLetter>,
    rows: u64,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Start reading the reader `open` makes (on the thread: the reader need not be
    /// `Send`); it stops at the end, at an error, or when this is dropped.
    pub(super) fn spawn<R>(
        open: impl FnOnce() -> anyhow::Result<R> + Send + 'static,
    ) -> anyhow::Result<ReadAhead<T>>
    where
        R: RecordReader<Item = T>,
    {
        let (tx, rx) = sync_channel(AHEAD);
        std::thread::Builder::new().name("vigil-read-ahead".into()).spawn(move || {
            let mut reader = match open() {
                Ok(r) => r,
                Err(e) => return drop(tx.send(Err(e))),
            };
            loop {
                let read = reader.next_item();
                let last = !matches!(read, Ok(Some(_)));
                let step = read.map(|item| Step {
                    item,
                    dead: reader.take_dead_letters(),
                    rows: reader.rows_read(),
                });
                if tx.send(step).is_err() || last {
                    return;
                }
            }
        })?;
        Ok(ReadAhead { rx, dead: Vec::new(), rows: 0 })
    }

    fn take(&mut self, step: anyhow::Result<Step<T>>) -> anyhow::Result<Polled<T>> {
        let Step { item, dead, rows } = step?;
        self.dead.extend(dead);
        self.rows = rows;
        Ok(item.map_or(Polled::End, Polled::Item))
    }
}

impl<T: Send + 'static> RecordReader for ReadAhead<T> {
    type Item = T;

    fn next_item(&mut self) -> anyhow::Result<Option<T>> {
        loop {
            match self.poll_item(Duration::from_secs(3600))? {
                Polled::Item(item) => return Ok(Some(item)),
                Polled::End => return Ok(None),
                Polled::Idle => continue,
            }
        }
    }

    fn poll_item(&mut self, wait: Duration) -> anyhow::Result<Polled<T>> {
        match self.rx.recv_timeout(wait) {
            Ok(step) => self.take(step),
            Err(RecvTimeoutError::Timeout) => Ok(Polled::Idle),
            Err(RecvTimeoutError::Disconnected) => Ok(Polled::End),
        }
    }

    fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.dead)
    }

    fn rows_read(&self) -> u64 {
        self.rows
    }
}
