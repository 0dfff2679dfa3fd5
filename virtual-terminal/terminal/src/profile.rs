//! Terminal quirk profiles: `[terminal] profile = "…"` in `zvt.toml` makes the virtual terminal
//! deviate from PA00P015 the way a real terminal model was seen to in the field, so an ECR can be
//! tested against it without the hardware. A profile is only data — a [`Quirks`] value — and
//! each quirk is one small switch where the machine decides (never a second machine). The
//! default profile, `spec`, has none. The evidence for each profile is listed in
//! `virtual-terminal/README.md`.

use serde::{Deserialize, Serialize};

/// A real terminal's deviations by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// PA00P015 as written.
    #[default]
    Spec,
    /// Worldline Yomani: a non-ZVT banner right after the TCP connect.
    Yomani,
    /// PAX A80 (Global Payments): Repeat Receipt 06 20 answered with a bare 06 0F; only the
    /// last transaction can be reversed.
    PaxA80,
    /// Clover Flex: the signature is captured only when the ECR permitted 06 D0 at registration;
    /// otherwise the payment is approved without it.
    Clover,
    /// A firmware update that answers `84 83 00` (not supported) to commands taken before.
    IngenicoUpdate,
    /// A vending terminal: texts in ISO-8859-1 (plain and TLS ports side by side, `--zvt-tls`).
    Vending,
    /// A serial terminal that acknowledges frames with `DLE ACK` (10 06) instead of `ACK` (06).
    DleAck,
}

/// The switches a profile sets; all off is the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quirks {
    /// Text sent on every new TCP/TLS connection before any ZVT (as the Yomani: a four-byte
    /// big-endian length, then the text).
    pub connect_banner: Option<&'static str>,
    /// Texts to the ECR (receipt lines, text blocks) in ISO-8859-1 instead of the default.
    pub latin1: bool,
    /// Commands (class, instruction) answered `84 83 00` (not supported).
    pub not_supported: &'static [(u8, u8)],
    /// Reversal 06 30 only of the last stored transaction; others: 06 1E B5.
    pub reversal_last_only: bool,
    /// The signature of a signature card is captured only when the ECR listed 06 D0 among its
    /// permitted commands at registration; without it the payment is approved unsigned.
    pub signature_needs_06d0: bool,
    /// Repeat Receipt 06 20 answered with a bare Completion: no Status-Information, no receipt.
    pub repeat_receipt_bare: bool,
    /// Serial: frames are acknowledged with `DLE ACK`.
    pub dle_ack: bool,
}

impl Profile {
    /// The name `zvt.toml` uses.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Spec => "spec",
            Profile::Yomani => "yomani",
            Profile::PaxA80 => "pax-a80",
            Profile::Clover => "clover",
            Profile::IngenicoUpdate => "ingenico-update",
            Profile::Vending => "vending",
            Profile::DleAck => "dle-ack",
        }
    }

    /// The profile's switches.
    pub const fn quirks(self) -> Quirks {
        let none = Quirks {
            connect_banner: None,
            latin1: false,
            not_supported: &[],
            reversal_last_only: false,
            signature_needs_06d0: false,
            repeat_receipt_bare: false,
            dle_ack: false,
        };
        match self {
            Profile::Spec => none,
            Profile::Yomani => Quirks {
                connect_banner: Some("VER|APP 19.46.69|MODEL possim Yomani|SERIAL 000000000000|52000001|1"),
                ..none
            },
            Profile::PaxA80 => Quirks {
                repeat_receipt_bare: true,
                reversal_last_only: true,
                ..none
            },
            Profile::Clover => Quirks {
                signature_needs_06d0: true,
                ..none
            },
            Profile::IngenicoUpdate => Quirks {
                // Authorisation and Reprint Receipts, which the firmware before took.
                not_supported: &[(0x06, 0x01), (0x06, 0x12)],
                ..none
            },
            Profile::Vending => Quirks { latin1: true, ..none },
            Profile::DleAck => Quirks { dle_ack: true, ..none },
        }
    }
}

impl Quirks {
    /// The connect banner on the wire: four-byte big-endian length, then the text.
    pub fn banner_bytes(&self) -> Option<Vec<u8>> {
        self.connect_banner.map(|text| {
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            let mut bytes = len.to_be_bytes().to_vec();
            bytes.extend_from_slice(text.as_bytes());
            bytes
        })
    }

    /// A text for the ECR in the profile's character set: ISO-8859-1 (`?` for what it lacks)
    /// or, by default, the bytes as they are.
    pub fn text(&self, text: String) -> Vec<u8> {
        if self.latin1 {
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect()
        } else {
            text.into_bytes()
        }
    }

    /// Whether this command is answered "not supported".
    pub fn refuses(&self, class: u8, instr: u8) -> bool {
        self.not_supported.contains(&(class, instr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_profile_has_no_quirks() {
        assert_eq!(Profile::default().quirks(), Profile::Spec.quirks());
        // The names are the serde names of zvt.toml.
        for p in [
            Profile::Spec,
            Profile::Yomani,
            Profile::PaxA80,
            Profile::Clover,
            Profile::IngenicoUpdate,
            Profile::Vending,
            Profile::DleAck,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
        let q = Profile::Spec.quirks();
        assert!(q.banner_bytes().is_none() && !q.refuses(0x06, 0x01));
        assert_eq!(q.text("Café".into()), "Café".as_bytes());
    }

    #[test]
    fn banner_and_charset_on_the_wire() {
        let banner = Profile::Yomani.quirks().banner_bytes().unwrap();
        // As the Yomani's log shows it: 00 00 00 <length>, then the text.
        assert_eq!(&banner[..4], &[0, 0, 0, 67]);
        assert_eq!(&banner[4..8], b"VER|");
        // ISO-8859-1: é is E9, one byte; a character outside it becomes `?`.
        assert_eq!(Profile::Vending.quirks().text("Café €".into()), b"Caf\xE9 ?");
    }
}
