//! A stage's downstream channels: every batch goes to each (fan-out), and a full
//! channel makes the sender wait (backpressure).

use tokio::sync::mpsc;

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

    /// Send from async code; waits while a channel is full.
    pub async fn send(&self, env: Envelope) -> Result<(), Closed> {
        let mut delivered = false;
        for s in &self.senders {
            delivered |= s.send(env.clone()).await.is_ok();
        }
        if delivered || self.senders.is_empty() { Ok(()) } else { Err(Closed) }
    }

    /// Send from a blocking thread (a source); waits while a channel is full.
    pub fn blocking_send(&self, env: Envelope) -> Result<(), Closed> {
        let mut delivered = false;
        for s in &self.senders {
            delivered |= s.blocking_send(env.clone()).is_ok();
        }
        if delivered || self.senders.is_empty() { Ok(()) } else { Err(Closed) }
    }
}
