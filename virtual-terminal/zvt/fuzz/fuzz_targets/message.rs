//! Typed messages, BMPs and TLV containers from arbitrary APDUs, strict and lenient, and their
//! human-readable rendering: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim_zvt::{Apdu, DecodeMode, DecodeOptions, Decoded, Message, TlvContainer};

fuzz_target!(|data: &[u8]| {
    let _ = TlvContainer::decode(data);
    let _ = possim_zvt::describe(data);
    if let Decoded::Complete { apdu, .. } = Apdu::decode(data) {
        for mode in [DecodeMode::Strict, DecodeMode::Lenient] {
            if let Ok((message, _)) = Message::from_apdu_with(&apdu, DecodeOptions { mode, reply_to: None }) {
                // What decodes must encode again.
                let _ = message.encode();
            }
        }
    }
});
