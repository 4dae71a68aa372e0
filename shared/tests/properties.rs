//! Property tests of the pure parts: doc titles, tokens at rest, OAuth callback and
//! webhook encodings, ids. (The webhook's state machine has its own, against the store
//! and the sandbox: `tests/harness/tests/state_machine.rs`.)

use base64::Engine;
use proptest::prelude::*;
use shared::connect::Callback;
use shared::crypto::{CryptoError, Keyring};
use shared::delivery::{BodyError, credentials, parse_body};
use shared::ids::{ItemId, ItemKind, OpenId, WorkspaceId};
use shared::link::{cut_chars, render_title};
use shared::secret::Secret;
use shared::store::{open_token, seal_token};
use shared::tapd::{TapdResource, TapdToken};
use shared::tdoc::TITLE_MAX_CHARS;
use shared::tdoc::TdocToken;

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Any Unicode, weighted towards what titles are made of: CJK, emoji with modifiers and
/// joiners, combining marks, right-to-left text, controls and odd whitespace.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<char>().prop_map(String::from),
        "[需求缺陷任务支付页面改版腾讯文档]{1,4}",
        Just("👍🏽".to_owned()),
        Just("👩‍👩‍👧".to_owned()),
        Just("e\u{301}".to_owned()),
        Just("مرحبا".to_owned()),
        Just("\u{202e}".to_owned()),
        Just("\t\n\r\u{0}\u{7f}\u{85}".to_owned()),
        Just("\u{3000}\u{a0}\u{2028}".to_owned()),
        Just("{name}{id}{kind}{workspace_id}".to_owned()),
        "[ -~]{0,8}",
    ];
    proptest::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
}

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{name}".to_owned()),
        Just("[{kind}#{id}] {name}".to_owned()),
        Just("{workspace_id}/{id}".to_owned()),
        text(),
    ]
}

fn key(b: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([b; 32])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cutting_keeps_a_prefix_of_whole_characters(s in text(), max in 0usize..48) {
        let cut = cut_chars(&s, max);
        prop_assert!(s.starts_with(cut));
        prop_assert_eq!(cut.chars().count(), max.min(s.chars().count()));
    }

    #[test]
    fn titles_are_never_empty_never_over_the_limit_and_never_split_a_character(
        tpl in template(),
        name in text(),
        id in "[0-9]{1,19}",
        ws in "[0-9]{1,19}",
        kind in prop_oneof![Just(ItemKind::Story), Just(ItemKind::Bug), Just(ItemKind::Task)],
    ) {
        let (id, ws) = (ItemId::parse(&id).unwrap(), WorkspaceId::parse(&ws).unwrap());
        let title = render_title(&tpl, &name, kind, &id, &ws);
        prop_assert!(!title.is_empty());
        prop_assert!(title.chars().count() <= TITLE_MAX_CHARS, "{} chars: {:?}", title.chars().count(), title);
        prop_assert!(!title.chars().any(char::is_control), "{:?}", title);
        prop_assert_eq!(title.trim(), title.as_str());
        // What Tencent Docs would accept at its limit of 36: a non-blank title.
        prop_assert!(!title.trim().is_empty());
        // A plain name template gives a prefix of the (cleaned) name.
        if tpl == "{name}" {
            let clean: String = name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            if !clean.trim().is_empty() {
                prop_assert!(clean.trim().starts_with(&title), "{:?} is not a prefix of {:?}", title, clean);
            }
        }
    }

    #[test]
    fn encryption_round_trips_and_is_bound_to_its_record(
        plain in proptest::collection::vec(any::<u8>(), 0..600),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        other in proptest::collection::vec(any::<u8>(), 0..64),
        flip in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let ring = Keyring::parse(&key(7)).unwrap();
        let blob = ring.encrypt(&plain, &aad);
        prop_assert_eq!(ring.decrypt(&blob, &aad).unwrap(), plain.clone());
        if other != aad {
            prop_assert_eq!(ring.decrypt(&blob, &other), Err(CryptoError::Tampered));
        }
        let mut bad = blob.clone();
        bad[flip.index(blob.len())] ^= 1 << bit;
        prop_assert!(ring.decrypt(&bad, &aad).is_err(), "a flipped bit went unnoticed");
        prop_assert!(ring.decrypt(&blob[..flip.index(blob.len())], &aad).is_err(), "a truncation went unnoticed");
    }

    #[test]
    fn rotation_reads_old_records_and_writes_under_the_first_key(
        plain in proptest::collection::vec(any::<u8>(), 0..200),
        old_b in 1u8..100,
        new_b in 100u8..200,
    ) {
        let old = Keyring::parse(&key(old_b)).unwrap();
        let rotated = Keyring::parse(&format!("{}, {}", key(new_b), key(old_b))).unwrap();
        let new_only = Keyring::parse(&key(new_b)).unwrap();
        let blob = old.encrypt(&plain, b"a");
        prop_assert_eq!(rotated.decrypt(&blob, b"a").unwrap(), plain.clone());
        prop_assert!(rotated.is_stale(&blob));
        let rewritten = rotated.encrypt(&plain, b"a");
        prop_assert!(!rotated.is_stale(&rewritten));
        prop_assert_eq!(new_only.decrypt(&rewritten, b"a").unwrap(), plain);
        prop_assert_eq!(new_only.decrypt(&blob, b"a"), Err(CryptoError::UnknownKey));
    }

    #[test]
    fn tapd_tokens_round_trip_through_the_record_encoding(
        access in any::<String>(),
        refresh in proptest::option::of(any::<String>()),
        expires_at in any::<u64>(),
        resource in prop_oneof![
            Just(None),
            ("(user|workspace)", "[1-9][0-9]{0,18}").prop_map(|(k, w)| Some(TapdResource {
                kind: k,
                workspace_id: Some(WorkspaceId::parse(&w).unwrap())
            })),
            "[a-z_]{0,12}".prop_map(|k| Some(TapdResource { kind: k, workspace_id: None })),
        ],
    ) {
        let token = TapdToken { access_token: Secret::new(access), refresh_token: refresh.map(Secret::new), expires_at, resource };
        let (old, rotated) = (Keyring::parse(&key(1)).unwrap(), Keyring::parse(&format!("{},{}", key(2), key(1))).unwrap());
        let blob = seal_token(&old, "WS#20003271", "TAPD_TOKEN", &token);
        let back: TapdToken = open_token(&rotated, "WS#20003271", "TAPD_TOKEN", &blob).unwrap();
        prop_assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&token).unwrap());
        prop_assert!(open_token::<TapdToken>(&rotated, "WS#20003272", "TAPD_TOKEN", &blob).is_err(), "moved to another record");
        let plain = token.access_token.expose().as_bytes();
        if plain.len() >= 8 {
            prop_assert!(!blob.windows(plain.len()).any(|w| w == plain), "the token is in the ciphertext");
        }
    }

    #[test]
    fn tdoc_tokens_round_trip_through_the_record_encoding(
        access in any::<String>(),
        refresh in proptest::option::of(any::<String>()),
        expires_at in any::<u64>(),
        open_id in "[A-Za-z0-9._-]{1,128}",
    ) {
        let token = TdocToken {
            access_token: Secret::new(access),
            refresh_token: refresh.map(Secret::new),
            expires_at,
            open_id: OpenId::parse(&open_id).unwrap(),
        };
        let ring = Keyring::parse(&key(3)).unwrap();
        let pk = format!("TDOC#{open_id}");
        let back: TdocToken = open_token(&ring, &pk, "TOKEN", &seal_token(&ring, &pk, "TOKEN", &token)).unwrap();
        prop_assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&token).unwrap());
    }

    #[test]
    fn callback_states_and_codes_survive_the_redirect_encoding(
        state in any::<String>(),
        code in any::<String>().prop_filter("a code", |c| !c.is_empty()),
        resource in any::<String>(),
        extra in proptest::collection::vec(("[a-z]{1,6}", any::<String>()), 0..4),
    ) {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("code", &code).append_pair("state", &state).append_pair("resource", &resource);
        for (k, v) in &extra {
            if !["code", "state", "error"].contains(&k.as_str()) {
                q.append_pair(k, v);
            }
        }
        let query = q.finish();
        let cb = Callback::parse(&query).unwrap();
        prop_assert_eq!(cb.code.as_ref().map(|c| c.expose()), Some(code.as_str()));
        prop_assert_eq!(cb.state.as_ref().map(|s| s.expose()), Some(state.as_str()));
        prop_assert!(cb.error.is_none());
        // A second state or code anywhere in the query is refused.
        let (second_state, second_code) = (format!("{query}&state=x"), format!("code=y&{query}"));
        prop_assert!(Callback::parse(&second_state).is_err());
        prop_assert!(Callback::parse(&second_code).is_err());
    }

    #[test]
    fn webhook_fields_read_the_same_as_json_and_as_form(
        fields in proptest::collection::btree_map(any::<String>(), any::<String>(), 1..12),
        dup in any::<proptest::sample::Index>(),
    ) {
        let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        let json = serde_json::to_string(&fields).unwrap();
        prop_assert_eq!(parse_body(FORM, form.as_bytes()).unwrap(), fields.clone());
        prop_assert_eq!(parse_body(JSON, json.as_bytes()).unwrap(), fields.clone());
        // One key sent twice is refused either way.
        let (k, _) = fields.iter().nth(dup.index(fields.len())).unwrap();
        let pair = url::form_urlencoded::Serializer::new(String::new()).append_pair(k, "again").finish();
        let form_dup = format!("{form}&{pair}");
        prop_assert!(matches!(parse_body(FORM, form_dup.as_bytes()), Err(BodyError::Duplicate(_))));
        let member = format!("{}:\"again\",", serde_json::to_string(k).unwrap());
        let json_dup = json.replacen('{', &format!("{{{member}"), 1);
        prop_assert!(matches!(parse_body(JSON, json_dup.as_bytes()), Err(BodyError::Duplicate(_))));
    }

    #[test]
    fn the_credentials_read_first_are_the_ones_the_whole_body_says(
        fields in proptest::collection::btree_map("secret|workspace_id|event|id|[a-z_]{1,8}", any::<String>(), 0..8),
        nested in any::<bool>(),
    ) {
        let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        let mut json: serde_json::Value = serde_json::to_value(&fields).unwrap();
        if nested {
            json["nested"] = serde_json::json!([{"secret": "inner"}, [[["x"]]]]);
        }
        let json = json.to_string();
        for (ct, body) in [(FORM, form.as_str()), (JSON, json.as_str())] {
            let (creds, all) = (credentials(ct, body.as_bytes()), parse_body(ct, body.as_bytes()));
            let Ok(all) = all else { continue };
            let creds = creds.unwrap();
            prop_assert_eq!(creds.secret.as_deref(), all.get("secret").map(String::as_str));
            prop_assert_eq!(creds.workspace_id.as_deref(), all.get("workspace_id").map(String::as_str));
        }
    }

    #[test]
    fn ids_are_digits_only(raw in any::<String>(), digits in "[0-9]{1,20}") {
        let (item, padded) = (ItemId::parse(&digits).unwrap(), WorkspaceId::parse(&format!(" {digits}\n")).unwrap());
        prop_assert_eq!(item.as_str(), digits.as_str());
        prop_assert_eq!(padded.as_str(), digits.as_str());
        if let Ok(id) = ItemId::parse(&raw) {
            prop_assert!(id.as_str().len() <= 20 && id.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
