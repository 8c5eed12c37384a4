//! Packet sources: capture files, stdin and live interfaces.

mod classic_pcap;
mod pcap_reader;

pub use pcap_reader::{PcapReader, ReadPacket};
