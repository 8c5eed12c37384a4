//! Errors that stop a flow-record reader (bad rows do not: they are dead letters).

/// Why a flow-record source could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowRecordError {
    /// The mapping file is invalid (user must fix it).
    #[error("column mapping {name}: {message}")]
    Mapping {
        /// Mapping name or path.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The file's header lacks a column the mapping needs (user must pick another mapping).
    #[error("{source_name}: header has no column `{column}` (mapping {mapping})")]
    MissingColumn {
        /// The file.
        source_name: String,
        /// The mapping in use.
        mapping: String,
        /// The column it asked for.
        column: String,
    },
    /// Reading failed (I/O, or the file has no header).
    #[error("{source_name}: line {line}: {message}")]
    Read {
        /// The file.
        source_name: String,
        /// Line where reading failed (1-based).
        line: u64,
        /// The underlying error.
        message: String,
    },
}
