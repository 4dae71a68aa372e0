//! Token records at rest: AES-256-GCM under a rotated keyring, then the token's JSON.
//!
//! Input: byte 0 picks the record (`& 1`: a TAPD or a Tencent Docs token) and whether the
//! rest is a raw ciphertext (`& 2 == 0`) or a plaintext, encrypted first under the *old*
//! key (so the JSON decoder behind the authentication tag is reached too).
//!
//! Checks: a record that opens re-seals and reads back the same; a ciphertext never opens
//! as another record; an opened token's `Debug` never depends on its access or refresh
//! token (see oracle/redaction.rs).
#![no_main]

#[path = "../oracle/redaction.rs"]
mod redaction;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shared::crypto::Keyring;
use shared::store::{open_token, seal_token};
use shared::tapd::TapdToken;
use shared::tdoc::TdocToken;

const OLD: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const NEW: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const RECORDS: [(&str, &str); 2] = [("WS#20003271", "TAPD_TOKEN"), ("TDOC#a1b2c3d4", "TOKEN")];

fn rings() -> &'static (Keyring, Keyring) {
    static RINGS: OnceLock<(Keyring, Keyring)> = OnceLock::new();
    RINGS.get_or_init(|| {
        let old = Keyring::parse(OLD).unwrap();
        let rotated = Keyring::parse(&format!("{NEW},{OLD}")).unwrap();
        // The associated data below is the store's: a sealed token opens.
        let (pk, sk) = RECORDS[1];
        let tok: TdocToken =
            serde_json::from_str(r#"{"access_token":"a","refresh_token":null,"expires_at":1,"open_id":"o"}"#).unwrap();
        let _: TdocToken = open_token(&rotated, pk, sk, &seal_token(&old, pk, sk, &tok)).unwrap();
        (old, rotated)
    })
}

fn round_trip<T>(ring: &Keyring, pk: &str, sk: &str, blob: &[u8]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let token = open_token::<T>(ring, pk, sk, blob).ok()?;
    // Re-sealed under the current key, it reads back the same, and is no longer stale.
    let sealed = seal_token(ring, pk, sk, &token);
    assert!(!ring.is_stale(&sealed));
    let again: T = open_token(ring, pk, sk, &sealed).expect("a re-sealed token opens");
    assert_eq!(serde_json::to_value(&token).unwrap(), serde_json::to_value(&again).unwrap());
    Some(token)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (old, rotated) = rings();
    let (pk, sk) = RECORDS[usize::from(mode & 1)];
    let blob = if mode & 2 == 0 { rest.to_vec() } else { old.encrypt(rest, format!("{pk}|{sk}").as_bytes()) };
    let _ = rotated.is_stale(&blob);
    let redacted = if mode & 1 == 0 {
        round_trip::<TapdToken>(rotated, pk, sk, &blob).map(|t| redaction::tapd_token(&t))
    } else {
        round_trip::<TdocToken>(rotated, pk, sk, &blob).map(|t| redaction::tdoc_token(&t))
    };
    if let Some(Err(leak)) = redacted {
        panic!("{leak}");
    }
    // A ciphertext opens for one record at most: moved to another, it never does.
    let opens = |(pk, sk): (&str, &str)| open_token::<serde_json::Value>(rotated, pk, sk, &blob).is_ok();
    assert!(!(opens(RECORDS[0]) && opens(RECORDS[1])), "one ciphertext opens as two records");
});
