//! APDU framing (length byte, extended `FF lo hi`) on TCP: never a panic, never a read past the
//! input, and a decoded APDU encodes back to the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim_zvt::{Apdu, ApduStream, Decoded};

fuzz_target!(|data: &[u8]| {
    if let Decoded::Complete { apdu, consumed } = Apdu::decode(data) {
        assert!(consumed <= data.len());
        assert_eq!(apdu.encode(), &data[..consumed]);
    }
    let mut stream = ApduStream::new();
    for chunk in data.chunks(7) {
        stream.push(chunk);
        while let Some(Ok(_)) = stream.next_apdu() {}
    }
});
