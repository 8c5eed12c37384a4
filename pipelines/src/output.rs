//! Flow writers.
