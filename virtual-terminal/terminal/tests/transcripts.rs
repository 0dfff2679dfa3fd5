//! Transcript tests: each file in `tests/transcripts/` scripts what the ECRs send, what the
//! customer and the operator do and which timers expire; the harness runs it through the state
//! machine — no sockets, no ptys, no clock — and writes down everything the terminal answers,
//! addressed to its connection. The transcript is checked with insta
//! (`tests/snapshots/transcripts__<name>.snap`). The format: `tests/transcripts/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use possim_engine::dataset::DataSet;
use possim_terminal::config::TerminalConfig;
use possim_terminal::customer::{CustomerScript, OperatorEvent};
use possim_terminal::fake_payback::{FakeHost, Ledger};
use possim_terminal::machine::{Action, ConnectionId, Output, Terminal};
use possim_zvt::encoding::{hex, parse_hex};

/// 2026-12-01 09:30:00 UTC: what the Status-Information and the receipts show.
const START: i64 = 1_796_117_400_000;

/// The default data set's cards and settings, as `possim serve` loads them.
const ZVT_TOML: &str = include_str!("../../../mocks/datasets/default/zvt.toml");

/// A transcript being run.
struct Run {
    name: String,
    terminal: Terminal,
    host: Option<Arc<FakeHost>>,
    now: i64,
    /// The armed timer of each connection (ms).
    timers: BTreeMap<ConnectionId, u64>,
    /// The last message the terminal sent each connection that awaits its acknowledgement.
    last_sent: BTreeMap<ConnectionId, Vec<u8>>,
    out: String,
    line: usize,
}

/// Connection `A` is 1, `B` 2, …
fn connection(letter: char) -> ConnectionId {
    u64::from(letter) - u64::from('A') + 1
}

fn letter(connection: ConnectionId) -> char {
    char::from_u32(u32::from('A') + connection as u32 - 1).unwrap_or('?')
}

/// What the ECR may send by name instead of hex.
fn named_apdu(text: &str) -> Option<Vec<u8>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["ack"] => Some(vec![0x80, 0x00, 0x00]),
        ["nack", code] => u8::from_str_radix(code, 16).ok().map(|c| vec![0x84, c, 0x00]),
        ["abort"] => Some(vec![0x06, 0xB0, 0x00]),
        _ => None,
    }
}

impl Run {
    fn new(name: &str) -> Self {
        let data = DataSet::from_files("default", [("zvt.toml", ZVT_TOML)]).expect("the default data set");
        let config = TerminalConfig::from_data_set(&data).expect("the default zvt.toml");
        Run {
            name: name.into(),
            terminal: Terminal::new(config),
            host: None,
            now: START,
            timers: BTreeMap::new(),
            last_sent: BTreeMap::new(),
            out: String::new(),
            line: 0,
        }
    }

    fn fail(&self, why: &str) -> ! {
        panic!("transcript {}, line {}: {why}", self.name, self.line)
    }

    fn run(mut self, text: &str) -> String {
        for (i, raw) in text.lines().enumerate() {
            self.line = i + 1;
            let line = raw.trim_end();
            let _ = writeln!(self.out, "{line}");
            let event = line.split(" #").next().unwrap_or("").trim();
            if event.is_empty() || event.starts_with('#') {
                continue;
            }
            self.event(event);
        }
        self.out
    }

    fn event(&mut self, event: &str) {
        let (head, rest) = event.split_once(' ').unwrap_or((event, ""));
        let rest = rest.trim();
        match head {
            "config" => {
                // A JSON object merged over the data set's zvt.toml (camelCase keys).
                let patch: serde_json::Value = serde_json::from_str(rest).unwrap_or_else(|e| self.fail(&e.to_string()));
                let mut config = serde_json::to_value(self.terminal.config()).expect("config serialises");
                if let (Some(target), Some(fields)) = (config.as_object_mut(), patch.as_object()) {
                    for (k, v) in fields {
                        target.insert(k.clone(), v.clone());
                    }
                }
                let config: TerminalConfig =
                    serde_json::from_value(config).unwrap_or_else(|e| self.fail(&e.to_string()));
                self.terminal = Terminal::new(config);
            }
            "payback" => {
                let mut ledger = Ledger::default();
                for setting in rest.split_whitespace() {
                    match setting.split_once('=') {
                        Some(("balance", v)) => ledger.balance = v.parse().unwrap_or_else(|_| self.fail("balance")),
                        Some(("lose", v)) => ledger.lose = v.parse().unwrap_or_else(|_| self.fail("lose")),
                        _ => self.fail("payback balance=<points> [lose=<answers>]"),
                    }
                }
                let host = Arc::new(FakeHost::new(ledger));
                self.terminal.set_payback_host(Some(host.clone()));
                self.host = Some(host);
            }
            "customer" => {
                let script: CustomerScript = serde_json::from_str(rest).unwrap_or_else(|e| self.fail(&e.to_string()));
                self.terminal.script_next(script).unwrap_or_else(|e| self.fail(&e));
            }
            "operator" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let operator = match words.as_slice() {
                    ["on"] => return self.terminal.set_operator_mode(true),
                    ["off"] => return self.terminal.set_operator_mode(false),
                    ["insert", card] => OperatorEvent::Insert((*card).into()),
                    ["pin", pin] => OperatorEvent::Pin((*pin).into()),
                    ["abort"] => OperatorEvent::Abort,
                    _ => self.fail("operator on|off|insert <card>|pin <digits>|abort"),
                };
                match self.terminal.operator_event(operator, self.now) {
                    Ok(outputs) => self.show(outputs),
                    Err(e) => {
                        let _ = writeln!(self.out, "   refused: {e}");
                    }
                }
            }
            "state" => self.state(),
            _ => self.connection_event(head, rest),
        }
    }

    /// `A> …`, `A timer`, `A closes`.
    fn connection_event(&mut self, head: &str, rest: &str) {
        let mut chars = head.chars();
        let (Some(name @ 'A'..='Z'), suffix) = (chars.next(), chars.as_str()) else {
            self.fail(&format!("unknown event {head:?}"))
        };
        let id = connection(name);
        match (suffix, rest) {
            (">", "ack all") => self.acknowledge(id, None),
            (">", until) if until.starts_with("ack until ") => {
                let prefix = parse_hex(&until["ack until ".len()..]).unwrap_or_else(|e| self.fail(&e.to_string()));
                self.acknowledge(id, Some(prefix));
            }
            (">", apdu) => {
                let bytes = named_apdu(apdu)
                    .or_else(|| parse_hex(apdu).ok())
                    .unwrap_or_else(|| self.fail(&format!("neither hex nor a name: {apdu:?}")));
                let outputs = self.terminal.on_apdu(id, &bytes, self.now);
                self.show(outputs);
            }
            ("", "timer") => {
                let Some(ms) = self.timers.remove(&id) else {
                    self.fail(&format!("no timer armed for {name}"))
                };
                self.now += i64::try_from(ms).unwrap_or(0);
                let _ = writeln!(self.out, "   ({ms} ms later)");
                let outputs = self.terminal.on_timer(id, self.now);
                self.show(outputs);
            }
            ("", "closes") => {
                self.timers.remove(&id);
                let outputs = self.terminal.disconnected(id);
                self.show(outputs);
            }
            _ => self.fail(&format!("unknown event {head} {rest}")),
        }
    }

    /// Connection `id` acknowledges each terminal message with 80 00 00 until the terminal sends
    /// none (it waits for a timer or the customer, or it is done) — or, with `until`, until it
    /// sends a message starting with those bytes, which stays unacknowledged.
    fn acknowledge(&mut self, id: ConnectionId, until: Option<Vec<u8>>) {
        for _ in 0..500 {
            let waiting = self.last_sent.remove(&id);
            let Some(last) = waiting else {
                if until.is_some() {
                    self.fail("the terminal stopped before the awaited message");
                }
                return;
            };
            if until.as_ref().is_some_and(|prefix| last.starts_with(prefix)) {
                return;
            }
            let _ = writeln!(self.out, "{}> 80 00 00", letter(id));
            let outputs = self.terminal.on_apdu(id, &[0x80, 0x00, 0x00], self.now);
            self.show(outputs);
        }
        self.fail("more than 500 messages");
    }

    /// Writes down the terminal's outputs: each message with the connection it goes to (a
    /// timer armed right after it on the same line), timers, notes.
    fn show(&mut self, outputs: Vec<Output>) {
        let mut skip_arm = false;
        for (i, output) in outputs.iter().enumerate() {
            let id = output.connection;
            let who = letter(id);
            match &output.action {
                Action::Send(apdu) => {
                    let bytes = apdu.encode();
                    // The terminal's own acknowledgements (of a command, of an abort, a
                    // refusal) await nothing; its other messages await the ECR's.
                    if !matches!(apdu.class(), 0x80 | 0x84) {
                        self.last_sent.insert(id, bytes.clone());
                    }
                    let _ = write!(self.out, "{who}< {}", hex(&bytes));
                    if let Some(Output {
                        connection,
                        action: Action::Arm(ms),
                    }) = outputs.get(i + 1)
                        && *connection == id
                    {
                        let _ = write!(self.out, "   [timer {ms} ms]");
                        skip_arm = true;
                    }
                    let _ = writeln!(self.out);
                    self.describe(&bytes);
                }
                Action::Arm(ms) => {
                    self.timers.insert(id, *ms);
                    if !std::mem::take(&mut skip_arm) {
                        let _ = writeln!(self.out, "{who}  timer {ms} ms");
                    }
                }
                Action::Disarm => {
                    self.timers.remove(&id);
                    // Shown only when nothing re-arms it in the same step.
                    let rearmed = outputs[i + 1..]
                        .iter()
                        .any(|o| o.connection == id && matches!(o.action, Action::Arm(_)));
                    if !rearmed {
                        let _ = writeln!(self.out, "{who}  timer off");
                    }
                }
                Action::Note(text) => {
                    let _ = writeln!(self.out, "{who}  note: {text}");
                }
            }
        }
        if !self.terminal.busy() {
            // An idle terminal expects no acknowledgement from anyone.
            self.last_sent.clear();
        }
    }

    /// The codec's reading of a terminal message, indented under it.
    fn describe(&mut self, bytes: &[u8]) {
        if matches!(bytes, [0x80, 0x00, 0x00]) {
            return;
        }
        for line in possim_zvt::describe(bytes).lines() {
            let _ = writeln!(self.out, "     | {line}");
        }
    }

    fn state(&mut self) {
        let t = &self.terminal;
        let mut text = String::new();
        for b in t.batch() {
            let _ = writeln!(
                text,
                "   batch: receipt {} trace {} {:?} {} cents {:?}{}",
                b.receipt,
                b.trace,
                b.kind,
                b.amount,
                b.card,
                if b.reversed { " reversed" } else { "" }
            );
        }
        for p in t.pre_auths() {
            let _ = writeln!(
                text,
                "   open pre-authorisation: receipt {} {} cents",
                p.receipt, p.amount
            );
        }
        let _ = writeln!(text, "   totals: {} cents; busy: {}", t.totals().1, t.busy());
        if let Some(host) = &self.host {
            let l = host.ledger();
            let _ = writeln!(text, "   PAYBACK balance {} points", l.balance);
            for r in &l.redemptions {
                let _ = writeln!(
                    text,
                    "   PAYBACK redemption {}: {} points, {}{}",
                    r.id,
                    r.points,
                    r.transaction_id,
                    if r.reversed { ", reversed" } else { "" }
                );
            }
        }
        self.out.push_str(&text);
    }
}

fn transcript(name: &str) {
    let path = format!("{}/tests/transcripts/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let out = Run::new(name).run(&text);
    insta::assert_snapshot!(name, out);
}

macro_rules! transcripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                transcript(stringify!($name));
            }
        )*

        /// Every transcript file has its test, and every test its file.
        #[test]
        fn every_transcript_file_runs() {
            let dir = format!("{}/tests/transcripts", env!("CARGO_MANIFEST_DIR"));
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .expect("the transcripts folder")
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".txt")).map(str::to_owned))
                .collect();
            files.sort();
            let mut tests = vec![$(stringify!($name).to_owned()),*];
            tests.sort();
            assert_eq!(files, tests);
        }
    };
}

transcripts!(
    admin_commands,
    arbitration,
    end_of_day,
    goods_limit,
    goods_not_issued,
    goods_partial,
    goods_repeats,
    goods_silent,
    operator,
    payback_below_minimum,
    payback_bonus_container,
    payback_credit,
    payback_lost,
    payback_outcomes,
    payback_redemption,
    payback_refusals,
    payment,
    payment_outcomes,
    payment_text_blocks,
    payment_timeouts,
    payment_unacknowledged,
    preauth,
    quirk_profiles,
    receipts,
    refund_reversal,
    registration,
    resync,
    resync_other_commands,
    status_enquiry,
    strict_mode,
);
