//! Fake Orchestrator (placeholder until implemented).
/// Fake orchestrator.
#[derive(Debug, Clone, Default)]
pub struct FakeOrchestrator;
