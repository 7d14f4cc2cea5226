//! Fake Provisioner (placeholder until implemented).
/// Fake provisioner.
#[derive(Debug, Clone, Default)]
pub struct FakeProvisioner;
