//! Conformance suite for the provisioner port (to be written).
