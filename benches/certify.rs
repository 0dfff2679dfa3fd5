//! Times a whole certification: `possim certify conformance/tyrios -- possim pos tyrios` with the
//! release binary — mocks started in-process, 21 scenarios, one reference-POS process per
//! scenario, four reports written. The target is under 5 s on the 2-core CI machine.
//!
//! `POSSIM_BENCH_RUNS` sets the number of timed runs (default 10); min, median and max are printed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn main() {
    let runs: usize = std::env::var("POSSIM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("possim-bench-certify-{}", std::process::id()));
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_possim"))
            .args(["certify", "conformance/tyrios", "--quiet", "--out"])
            .arg(&out)
            .args(["--", "possim", "pos", "tyrios"])
            .current_dir(&repo)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("possim runs");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(status.success(), "the reference POS must pass the suite");
    }
    let _ = std::fs::remove_dir_all(&out);
    times.sort_by(f64::total_cmp);
    println!(
        "certify conformance/tyrios (21 scenarios, reference POS): min {:.0} ms, median {:.0} ms, max {:.0} ms over {runs} runs",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
