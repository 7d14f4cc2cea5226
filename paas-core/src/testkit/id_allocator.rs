//! Conformance suite for the id_allocator port (to be written).
