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

/// An item's create marker: 12 characters of `[a-z0-9]` (62 bits), short enough to sit in a
/// 36-character title beside most of the item's name.
pub fn marker() -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // 36 does not divide 256: bytes of 252 and above are redrawn so every character is as likely.
    let mut out = String::with_capacity(12);
    while out.len() < 12 {
        for b in bytes::<16>() {
            if b < 252 && out.len() < 12 {
                out.push(ALPHABET[usize::from(b % 36)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markers_are_twelve_lowercase_alphanumerics_and_differ() {
        let (a, b) = (super::marker(), super::marker());
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{a}");
        assert_ne!(a, b);
    }
}
