//! Conformance suite for the orchestrator port (to be written).
