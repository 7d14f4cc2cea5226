//! Conformance suite for the ledger port (to be written).
