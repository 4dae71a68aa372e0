//! Randomness from the OS (getrandom): states, nonces, claim owners.

use base64::Engine;

pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is unrecoverable for a service that mints secrets.
    getrandom::fill(&mut buf).expect("operating system RNG unavailable");
    buf
}

/// 256 random bits, URL-safe: used for OAuth `state` values.
pub fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// 128 random bits in hex: claim owners and other ids.
pub fn id() -> String {
    bytes::<16>().iter().map(|b| format!("{b:02x}")).collect()
}
