//! The serial line: DLE STX … DLE ETX frames, DLE doubling, CRC, ACK/NAK and noise. Whatever
//! arrives, the decoder reports events and never panics; feeding the same bytes in other chunks
//! gives the same events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim_zvt::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let mut whole = FrameDecoder::new();
    let mut expected = whole.feed(data);
    expected.extend(whole.flush());
    let mut chunked = FrameDecoder::new();
    let mut got = Vec::new();
    for chunk in data.chunks(3) {
        got.extend(chunked.feed(chunk));
    }
    got.extend(chunked.flush());
    assert_eq!(got, expected);
});
