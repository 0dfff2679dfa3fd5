//! The digital signature (ЭЦП) of requests and answers — **our design** (spec 1.9 [DESIGN]):
//! Loymax documents that requests and answers can be signed with per-device key pairs, but not
//! the algorithm or where the signature travels. Here: a detached RSA PKCS#1 v1.5 / SHA-256
//! signature over the exact body bytes, Base64 in the `X-Signature` header.
//!
//! The scheme sits behind [`SignatureScheme`] so a GOST or XML-DSig variant can replace it once
//! the real page is known.

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use thiserror::Error;

/// The HTTP header that carries the signature, both ways.
pub const HEADER: &str = "X-Signature";

/// Why a key could not be read.
#[derive(Debug, Error)]
#[error("not an RSA key in PEM (PKCS#1 or PKCS#8/SPKI): {0}")]
pub struct KeyError(String);

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// Not Base64.
    #[error("подпись не в Base64")]
    NotBase64,
    /// Does not match the body and the device's key.
    #[error("подпись не соответствует телу запроса")]
    Mismatch,
}

/// A signature scheme: sign a body, verify a body.
pub trait SignatureScheme {
    /// The header value for `body`.
    fn sign(&self, key: &RsaPrivateKey, body: &[u8]) -> String;
    /// Checks a header value against `body`.
    fn verify(&self, key: &RsaPublicKey, body: &[u8], signature: &str) -> Result<(), VerifyError>;
}

/// RSA PKCS#1 v1.5 with SHA-256, Base64 (standard alphabet, padded).
#[derive(Debug, Clone, Copy, Default)]
pub struct RsaSha256;

impl SignatureScheme for RsaSha256 {
    fn sign(&self, key: &RsaPrivateKey, body: &[u8]) -> String {
        let signature = SigningKey::<Sha256>::new(key.clone()).sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }

    fn verify(&self, key: &RsaPublicKey, body: &[u8], signature: &str) -> Result<(), VerifyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| VerifyError::NotBase64)?;
        let signature = Signature::try_from(bytes.as_slice()).map_err(|_| VerifyError::Mismatch)?;
        VerifyingKey::<Sha256>::new(key.clone())
            .verify(body, &signature)
            .map_err(|_| VerifyError::Mismatch)
    }
}

/// Reads a private key (`BEGIN RSA PRIVATE KEY` or `BEGIN PRIVATE KEY`).
pub fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    RsaPrivateKey::from_pkcs1_pem(pem.trim())
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem.trim()))
        .map_err(|e| KeyError(e.to_string()))
}

/// Reads a public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
pub fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, KeyError> {
    RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| KeyError(e.to_string()))
}

/// The committed test keys (see the README for how they were made).
pub mod test_keys {
    /// Private key of the till `kassa-2`.
    pub const KASSA_2_PRIVATE: &str = include_str!("../keys/kassa-2.key.pem");
    /// Public key of the till `kassa-2` (in the data sets).
    pub const KASSA_2_PUBLIC: &str = include_str!("../keys/kassa-2.pub.pem");
    /// Private key of the processing (in the data sets).
    pub const PROCESSING_PRIVATE: &str = include_str!("../keys/processing.key.pem");
    /// Public key of the processing (for tills checking answers).
    pub const PROCESSING_PUBLIC: &str = include_str!("../keys/processing.pub.pem");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_with_the_committed_keys() {
        let private = private_key_from_pem(test_keys::KASSA_2_PRIVATE).unwrap();
        let public = public_key_from_pem(test_keys::KASSA_2_PUBLIC).unwrap();
        let body = "<?xml version=\"1.0\"?><XMLRequest/>".as_bytes();
        let signature = RsaSha256.sign(&private, body);
        // PKCS#1 v1.5 is deterministic: the same body always has the same signature.
        assert_eq!(signature, RsaSha256.sign(&private, body));
        assert_eq!(RsaSha256.verify(&public, body, &signature), Ok(()));
        assert_eq!(
            RsaSha256.verify(&public, b"<XMLRequest/>", &signature),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(RsaSha256.verify(&public, body, "!!"), Err(VerifyError::NotBase64));
        let other = public_key_from_pem(test_keys::PROCESSING_PUBLIC).unwrap();
        assert_eq!(RsaSha256.verify(&other, body, &signature), Err(VerifyError::Mismatch));
    }

    #[test]
    fn keys_that_are_not_keys_are_refused() {
        assert!(private_key_from_pem("nope").is_err());
        assert!(public_key_from_pem(test_keys::KASSA_2_PRIVATE).is_err());
    }
}
