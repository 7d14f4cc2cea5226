//! In-memory IdAllocator (placeholder until implemented).
/// In-memory allocator.
#[derive(Debug, Clone, Default)]
pub struct MemoryIdAllocator;
