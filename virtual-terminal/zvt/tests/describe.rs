//! Snapshot tests of the human-readable rendering of real APDUs. Each snapshot was reviewed
//! against the field meanings in PA00P015 before it was accepted.

use possim_zvt::describe::describe;
use possim_zvt::encoding::parse_hex;
use possim_zvt::serial::encode_frame;

fn h(s: &str) -> Vec<u8> {
    parse_hex(s).unwrap()
}

#[test]
fn status_information_after_payment() {
    // Portalum.Zvt simulator trace, see tests/vectors.rs.
    let bytes = h("04 0F 77 27 00 04 00 00 00 00 20 40 0B 00 04 70 \
        0C 22 39 53 0D 10 06 0E 25 12 17 00 01 19 70 22 F0 F8 EE EE EE EE EE EE 47 71 \
        29 28 00 48 69 2A 31 30 30 34 36 31 37 36 33 20 20 20 20 20 20 \
        3B 36 31 31 38 30 34 00 00 3C F0 F1 F4 47 45 4E 2E 4E 52 2E 3A 36 31 31 38 30 34 \
        49 09 78 87 04 70 88 00 04 70 8A 2E 8B F1 F7 44 65 62 69 74 20 4D 61 73 74 65 72 \
        63 61 72 64 00");
    insta::assert_snapshot!(describe(&bytes));
}

#[test]
fn registration_with_tlv() {
    let bytes = h("06 00 14 00 00 00 9E 09 78 06 0C 26 04 0A 02 06 D3 1F 73 03 00 00 00");
    insta::assert_snapshot!(describe(&bytes));
}

#[test]
fn serial_frame_of_ten_euro_authorisation() {
    let bytes = h("10 02 06 01 07 04 00 00 00 00 10 10 00 10 03 62 91");
    insta::assert_snapshot!(describe(&bytes));
}

#[test]
fn tcp_segment_with_ack_and_intermediate_status() {
    // Coalesced answer: 80 00 00 then 04 FF 01 0A (insert card), then an abort 06 1E 01 6C.
    let bytes = h("80 00 00 04 FF 01 0A 06 1E 01 6C");
    insta::assert_snapshot!(describe(&bytes));
}

#[test]
fn status_enquiry_completion() {
    let mut bytes = h("06 0F 15 F0 F1 F7");
    bytes.extend_from_slice(b"061022a M IC_ Std");
    bytes.push(0x00);
    insta::assert_snapshot!(describe(&bytes));
}

#[test]
fn reservation_with_constructed_tlv() {
    let bytes = h(
        "06 22 1E 19 40 49 09 78 04 00 00 00 00 25 00 06 10 E9 0E 1F 62 02 41 43 \
         1F 63 06 33 38 34 48 48 32",
    );
    insta::assert_snapshot!(describe(&bytes));
}

#[test]
fn print_text_block_and_print_line() {
    // Short text block: receipt type 02 (customer), lines "Total  10.00 EUR", an empty line and
    // the end-of-receipt attribute 81 in tag 09.
    let bytes = h(
        "06 D3 1F 06 1D 1F 07 01 02 25 17 07 10 54 6F 74 61 6C 20 20 31 30 2E 30 30 \
         20 45 55 52 07 00 09 01 81",
    );
    let mut all = bytes;
    all.extend(h("06 D1 05 41 54 45 53 54"));
    insta::assert_snapshot!(describe(&all));
}

#[test]
fn errors_are_shown_not_hidden() {
    // Negative ack for an unknown command, an unknown BMP inside a payment, a truncated APDU.
    let mut bytes = h("84 83 00 06 01 02 42 00");
    bytes.extend(h("06 01 07 04 00"));
    insta::assert_snapshot!(describe(&bytes));
}

#[test]
fn serial_line_with_noise_and_bad_crc() {
    let mut line = h("FF FE");
    let mut bad = encode_frame(&h("06 B0 00"));
    let n = bad.len();
    bad[n - 2] ^= 0x01;
    line.extend(bad);
    line.push(0x06);
    line.extend(encode_frame(&h("06 B0 00")));
    // Start with DLE STX so describe treats the input as a serial line.
    let mut input = h("10 02 06 1E 01 6C 10 03 C9 F2");
    input.extend(line);
    insta::assert_snapshot!(describe(&input));
}
