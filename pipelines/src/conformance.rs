//! Conformance against peer tools' outputs (filled in by the conformance work).
