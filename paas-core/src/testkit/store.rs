//! Conformance suite for the store port (to be written).
