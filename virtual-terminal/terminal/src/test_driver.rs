//! Drives the terminal's machine in tests without a link: one command in, every message it sends
//! acknowledged, until it is idle again. The unit tests of `payback` and the crate's tests
//! outside it (`tests/retention.rs`, through the `test-support` feature) share it.

use crate::machine::{Action, ConnectionId, Terminal};

/// Sends `command` from `ecr`, acknowledges (`80 00 00`) every message until the terminal is no
/// longer busy, and returns the messages it sent, its first answer to the command included.
/// Panics when the terminal is still busy after 200 acknowledgements (a machine that never ends a
/// transaction is the bug such a test is there to find).
pub fn run_acknowledged(t: &mut Terminal, ecr: ConnectionId, command: &[u8]) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    let mut out = t.on_apdu(ecr, command, 0);
    for _ in 0..200 {
        sent.extend(out.iter().filter_map(|o| match &o.action {
            Action::Send(apdu) => Some(apdu.encode()),
            _ => None,
        }));
        if !t.busy() {
            return sent;
        }
        out = t.on_apdu(ecr, &[0x80, 0x00, 0x00], 0);
    }
    panic!("the terminal did not finish: {sent:02X?}");
}
