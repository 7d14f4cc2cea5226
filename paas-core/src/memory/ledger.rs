//! In-memory Ledger (placeholder until implemented).
/// In-memory ledger.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger;
