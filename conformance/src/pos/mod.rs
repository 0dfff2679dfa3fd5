//! Reference POS clients: correct till-side implementations of each provider's integration,
//! used as the `exec` driver's POS to record golden flows and to prove that a suite passes a
//! correct till and fails a defective one (`--defect`).

pub mod computop;
pub mod payback;
pub mod tyrios;
pub mod zvt;

/// Looks a defect up by its command-line name, naming the known ones when it is not there.
pub fn parse_defect<T: Copy>(table: &[(&str, T)], name: &str) -> Result<T, String> {
    table.iter().find(|(n, _)| *n == name).map(|(_, d)| *d).ok_or_else(|| {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        format!("unknown defect {name:?} (known: {})", names.join(", "))
    })
}
