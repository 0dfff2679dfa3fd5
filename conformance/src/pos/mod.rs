//! Reference POS clients: correct till-side implementations of each provider's integration,
//! used as the `exec` driver's POS to record golden flows and to prove that a suite passes a
//! correct till and fails a defective one (`--defect`).

pub mod payback;
pub mod tyrios;
