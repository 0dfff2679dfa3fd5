//! The end-to-end test binary (one binary, as ripgrep does, so it links once). Every test starts
//! the real `possim` binary on free loopback ports and talks to it over the wire.
//!
//! - `util`: start/stop the binary, HTTP helpers.
//! - `documented`: the "every documented field" matcher (also used by the in-process runs of the
//!   seed examples in `mocks/tyrios/tests/in_process.rs`).
//! - `tyrios_seed`: every example request of the TYRIOS seed against the `seed-examples` set.
//! - `tyrios_errors`: every documented error case, in German and English.
//! - `tyrios_flows`: final transactions, expiry, the overview, coupons over time.
//! - `faults`: fault injection over the wire, including the draft-ok/final-fails race.
//! - `admin`: the admin API and the command line.
//! - `certify`: the conformance runner, its drivers, reports, recording and the planted defects.
//! - `certify_loymax`: the Loymax suite certifies the reference till at every level, and its
//!   detection matrix is the pinned one.
//! - `certify_runner`: the set-up's faults are not the till's (a command that cannot start, a
//!   till past its time limit with its helpers, a closed stdout), with shell scripts as tills.
//! - `computop`: the Computop Paygate mock over the wire, with a shop inside the test.
//! - `loymax`: the Loymax processing mock: the 2018 till log as the golden exchange, a purchase.
//! - `payback`: the PAYBACK loyalty mock (our design) over the wire.
//! - `payback_terminal`: PAYBACK redemption through the virtual ZVT terminal (Austria).
//! - `zvt_terminal`: the virtual ZVT terminal over TCP, driven by the reference ECR and raw bytes.
//! - `zvt_serial`: the same terminal over its pseudo-terminal, with the serial framing.
//! - `zvt_tls`: the terminal's TLS listener: an independent client (Python's `ssl`) that checks
//!   the certificate chain pays; `possim zvt --tls`; fault rules and the journal over TLS.
//! - `zvt_interop`: an independent ECR (the `zvt` crate) against the terminal.
//! - `conventions`: completions, man page, --help, the example config, JSON Schemas of flows.
//! - `console`: the web console in headless Chromium (WebDriver): live traffic, a fault preset,
//!   the customer at the terminal's face, the clock.
//! - `independent_tills`: tills written in Python from the published contract alone certify
//!   through the exec driver (TYRIOS, PAYBACK, ZVT, Computop).
//! - `hardening`: the admin API's front and token, unsafe data sets, oversized requests.
//! - `front_refusals`: every request the HTTP front refuses (beyond hyper's limits too), on every
//!   listener, answered completely in the listener's error format.
//! - `memory`: bounded memory: the journal's byte budget under a header bomb, journal pages and
//!   the streamed export, TYRIOS keeping only its newest transactions.
//! - `computop_python`: an independent Computop client (Python, pycryptodome) against the
//!   Paygate mock: sale, notifies, inquiry, credits, ReqID replay, AES.

mod admin;
mod certify;
mod certify_loymax;
mod certify_runner;
mod computop;
mod computop_python;
mod console;
mod conventions;
mod documented;
mod faults;
mod front_refusals;
mod hardening;
mod independent_tills;
mod loymax;
mod loymax_python;
mod memory;
mod payback;
mod payback_terminal;
mod suites;
mod tyrios_errors;
mod tyrios_flows;
mod tyrios_seed;
mod util;
mod zvt_interop;
mod zvt_serial;
mod zvt_terminal;
mod zvt_tls;
