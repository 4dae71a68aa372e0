//! Encryption at rest: AES-256-GCM with a random 96-bit nonce per write and the record's key
//! as associated data, so a ciphertext moved to another record does not decrypt.
//!
//! Blob layout: `version(1) | key fingerprint(4) | nonce(12) | ciphertext+tag`. The
//! fingerprint picks the key, so a keyring holding old keys still reads old records
//! (rotation: put the new key first; records are re-encrypted under it on their next write).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("not base64 of 32 bytes")]
    BadKey,
    #[error("no key given")]
    NoKey,
    #[error("ciphertext is truncated or of an unknown version")]
    Malformed,
    #[error("ciphertext was written under a key that is not configured")]
    UnknownKey,
    #[error("ciphertext failed authentication")]
    Tampered,
}

#[derive(Clone)]
struct Key {
    fingerprint: [u8; 4],
    cipher: Aes256Gcm,
}

/// The configured keys; the first encrypts, all decrypt.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({} keys, [redacted])", self.keys.len())
    }
}

impl Keyring {
    /// Parses `TOKEN_ENCRYPTION_KEY`: one or more base64 keys of 32 bytes, comma separated,
    /// the current one first.
    pub fn parse(raw: &str) -> Result<Self, CryptoError> {
        let keys = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|b64| {
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| CryptoError::BadKey)?;
                if bytes.len() != 32 {
                    return Err(CryptoError::BadKey);
                }
                Ok(Key::new(&bytes))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(CryptoError::NoKey);
        }
        Ok(Self { keys })
    }

    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce_bytes: [u8; 12] = crate::random::bytes();
        let ct = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption cannot fail for inputs under 64 GiB");
        let mut out = Vec::with_capacity(HEADER + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&key.fingerprint);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if blob.len() < HEADER + 16 || blob[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let key = self.keys.iter().find(|k| k.fingerprint == blob[1..5]).ok_or(CryptoError::UnknownKey)?;
        key.cipher
            .decrypt(Nonce::from_slice(&blob[5..HEADER]), Payload { msg: &blob[HEADER..], aad })
            .map_err(|_| CryptoError::Tampered)
    }

    /// Whether a blob was written under an older key and should be re-encrypted.
    pub fn is_stale(&self, blob: &[u8]) -> bool {
        blob.get(1..5) != Some(&self.keys[0].fingerprint[..])
    }
}

impl Key {
    fn new(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Self {
            fingerprint: [digest[0], digest[1], digest[2], digest[3]],
            cipher: Aes256Gcm::new_from_slice(bytes).expect("32-byte key"),
        }
    }
}

/// A Content-Security-Policy source for one inline script: `sha256-<base64 of its digest>`.
pub fn csp_hash(script: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([b; 32])
    }

    #[test]
    fn round_trip_is_bound_to_the_associated_data() {
        let ring = Keyring::parse(&key(1)).unwrap();
        let blob = ring.encrypt(b"secret-token", b"WS#1|TOKEN");
        assert!(!blob.windows(12).any(|w| w == b"secret-token"));
        assert_eq!(ring.decrypt(&blob, b"WS#1|TOKEN").unwrap(), b"secret-token");
        assert_eq!(ring.decrypt(&blob, b"WS#2|TOKEN"), Err(CryptoError::Tampered));
        // Two writes of the same value differ: the nonce is fresh each time.
        assert_ne!(blob, ring.encrypt(b"secret-token", b"WS#1|TOKEN"));
    }

    #[test]
    fn old_keys_still_decrypt_after_rotation() {
        let old = Keyring::parse(&key(1)).unwrap();
        let blob = old.encrypt(b"v", b"a");
        let rotated = Keyring::parse(&format!("{},{}", key(2), key(1))).unwrap();
        assert_eq!(rotated.decrypt(&blob, b"a").unwrap(), b"v");
        assert!(rotated.is_stale(&blob));
        assert!(!rotated.is_stale(&rotated.encrypt(b"v", b"a")));
        let new_only = Keyring::parse(&key(2)).unwrap();
        assert_eq!(new_only.decrypt(&blob, b"a"), Err(CryptoError::UnknownKey));
    }

    #[test]
    fn bad_keys_and_blobs_are_errors_not_panics() {
        assert_eq!(Keyring::parse("").unwrap_err(), CryptoError::NoKey);
        assert_eq!(Keyring::parse("c2hvcnQ=").unwrap_err(), CryptoError::BadKey);
        assert_eq!(Keyring::parse("!!").unwrap_err(), CryptoError::BadKey);
        let ring = Keyring::parse(&key(1)).unwrap();
        assert_eq!(ring.decrypt(b"", b""), Err(CryptoError::Malformed));
        assert_eq!(ring.decrypt(&[1; 40], b""), Err(CryptoError::UnknownKey));
    }
}
