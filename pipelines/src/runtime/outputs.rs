//! A stage's downstream channels: every batch goes to each (fan-out), and a full
//! channel makes the sender wait (backpressure).

use tokio::sync::mpsc;

use super::ack::BatchStatus;
use super::record::Envelope;

/// Every downstream consumer has gone away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no stage downstream is running")]
pub struct Closed;

/// The senders to a stage's consumers.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    senders: Vec<mpsc::Sender<Envelope>>,
}

impl Outputs {
    /// Outputs to these channels.
    pub fn new(senders: Vec<mpsc::Sender<Envelope>>) -> Outputs {
        Outputs { senders }
    }

    /// Send from async code; waits while a channel is full. Each consumer gets its
    /// own copy (and so its own branch of the acknowledgements); a copy that cannot
    /// be sent is dropped, which resolves its branch as errored.
    pub async fn send(&self, env: Envelope) -> Result<(), Closed> {
        let mut delivered = false;
        for (s, env) in self.copies(env) {
            delivered |= s.send(env).await.is_ok();
        }
        if delivered || self.senders.is_empty() { Ok(()) } else { Err(Closed) }
    }

    /// Send from a blocking thread (a source); waits while a channel is full.
    pub fn blocking_send(&self, env: Envelope) -> Result<(), Closed> {
        let mut delivered = false;
        for (s, env) in self.copies(env) {
            delivered |= s.blocking_send(env).is_ok();
        }
        if delivered || self.senders.is_empty() { Ok(()) } else { Err(Closed) }
    }

    /// One copy per consumer, the last being `env` itself. With no consumer the rows
    /// go nowhere, which is all this branch owes: it resolves as delivered.
    fn copies(&self, env: Envelope) -> Vec<(&mpsc::Sender<Envelope>, Envelope)> {
        let Some((last, rest)) = self.senders.split_last() else {
            env.resolve(BatchStatus::Delivered);
            return Vec::new();
        };
        let mut out: Vec<_> = rest.iter().map(|s| (s, env.clone())).collect();
        out.push((last, env));
        out
    }
}
