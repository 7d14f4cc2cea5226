//! Python bindings of the paas SDK (the `paas` Python package).
//!
//! The bindings grow with their own issue; for now they expose the SDK version so the
//! packaging path (maturin, the abi3 wheel, the import) is exercised from day one.

use pyo3::prelude::*;

/// The version of the paas SDK these bindings were built from.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The `paas._paas` extension module.
#[pymodule]
fn _paas(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
