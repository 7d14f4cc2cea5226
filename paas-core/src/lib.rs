//! paas core
