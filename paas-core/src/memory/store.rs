//! In-memory Store (placeholder until implemented).
/// In-memory store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore;
