//! [`Position`]: where in its input a record (or a refused row) came from.
//!
//! Every position is 1-based: the first packet of a capture is packet 1, the first
//! line of a file is line 1 (header and comment lines count). The input itself is
//! named beside it (a file name, `stdin`, a Kafka topic).

use std::fmt;

/// Where a record sits in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Position {
    /// The input as a whole (it could not be opened, or is not of its format).
    File,
    /// A packet of a capture, 1-based.
    Packet(u64),
    /// A line of a text input (a file or stdin), 1-based.
    Line(u64),
    /// A Kafka message: its partition and offset (the topic names the input).
    Kafka {
        /// The partition.
        partition: i32,
        /// The message's offset in the partition.
        offset: i64,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::File => f.write_str("file"),
            Position::Packet(n) => write!(f, "packet {n}"),
            Position::Line(n) => write!(f, "line {n}"),
            Position::Kafka { partition, offset } => {
                write!(f, "partition {partition} offset {offset}")
            }
        }
    }
}

impl Position {
    /// The line number, for a line position.
    pub fn line(&self) -> Option<u64> {
        match self {
            Position::Line(n) => Some(*n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_as_people_write_them() {
        assert_eq!(Position::Packet(12).to_string(), "packet 12");
        assert_eq!(Position::Line(3).to_string(), "line 3");
        assert_eq!(Position::File.to_string(), "file");
        assert_eq!(
            Position::Kafka { partition: 2, offset: 41 }.to_string(),
            "partition 2 offset 41"
        );
    }
}
