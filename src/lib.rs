//! paas placeholder
pub use paas_core as core;
