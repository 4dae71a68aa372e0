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

/// A doc as Tencent Docs keeps it, in process: paragraphs joined by `\n`, numbered as the
/// documented read numbers them (the first paragraph begins at 1, one index per paragraph
/// break, UTF-16 units), edited as `batchUpdate` and people edit it.
mod doc_model {
    use shared::tdoc::{Block, DocTree, Edit};

    pub struct Doc(pub String);

    impl Doc {
        pub fn paragraphs(&self) -> Vec<String> {
            self.0.split('\n').map(str::to_owned).collect()
        }

        pub fn read(&self) -> DocTree {
            let mut at = 1u64;
            let blocks = self
                .0
                .split('\n')
                .map(|t| {
                    let len = t.encode_utf16().count() as u64;
                    let b = Block { begin: at, end: at + len, text: t.to_owned() };
                    at += len + 1;
                    b
                })
                .collect();
            DocTree { blocks, version: Some(1) }
        }

        /// The byte offset of doc index `i` (UTF-16 units from 1).
        fn byte(&self, i: u64) -> usize {
            let mut units = 1u64;
            for (b, c) in self.0.char_indices() {
                if units >= i {
                    return b;
                }
                units += c.len_utf16() as u64;
            }
            assert!(units >= i, "index {i} beyond the doc");
            self.0.len()
        }

        pub fn apply(&mut self, edits: &[Edit]) {
            for e in edits {
                match e {
                    Edit::Insert { index, text } => {
                        let at = self.byte(*index);
                        self.0.insert_str(at, text);
                    }
                    Edit::Replace { start, length, text } => {
                        let (a, b) = (self.byte(*start), self.byte(start + length));
                        self.0.replace_range(a..b, text);
                    }
                    Edit::Delete { start, length } => {
                        let (a, b) = (self.byte(*start), self.byte(start + length));
                        self.0.replace_range(a..b, "");
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// TAPD's item changes; the delivery may be delivered twice (a lost reply's retry reads again).
    Update { status: usize, owner: usize, priority: usize, twice: bool },
    /// A person writes a paragraph before paragraph `at` (modulo the count).
    Write { at: usize, text: String },
    /// A person types into the card: it is theirs from then on.
    EditCard { text: String },
    /// A person deletes the card (its paragraph with it).
    DeleteCard,
}

fn step() -> impl Strategy<Value = Step> {
    let person = "[a-z需求会议😀 ，。]{1,10}";
    prop_oneof![
        (0usize..4, 0usize..3, 0usize..3, any::<bool>()).prop_map(|(status, owner, priority, twice)| Step::Update {
            status,
            owner,
            priority,
            twice
        }),
        (0usize..8, person).prop_map(|(at, text)| Step::Write { at, text }),
        person.prop_map(|text| Step::EditCard { text }),
        Just(Step::DeleteCard),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any interleaving of updates and people's edits leaves exactly one card, equal to what
    /// TAPD shows, and every paragraph people wrote (an edited card among them) byte for byte,
    /// in their order.
    #[test]
    fn the_card_is_one_equal_to_tapd_and_peoples_text_is_intact(steps in proptest::collection::vec(step(), 1..24)) {
        use shared::link::card::{CardNames, Legacy, Plan, card_text, is_card, plan};
        use shared::store::ItemKey;
        use shared::tapd::TapdItem;
        use shared::text::Lang;
        let key: ItemKey = "20375001/story/1120375001001000101".parse().unwrap();
        let url = "https://www.tapd.cn/20375001/prong/stories/view/1120375001001000101";
        let legacy = Legacy { kind: key.kind, key: &key, item_url: url, description: "" };
        let item = |owner: &str, priority: &str| TapdItem {
            id: key.id.clone(),
            name: "按月导出成本报表".into(),
            description: String::new(),
            owner: owner.into(),
            priority: priority.into(),
            iteration_id: "0".into(),
            created: String::new(),
            status: String::new(),
            workitem_type_id: String::new(),
        };
        let statuses = ["规划中", "实现中", "已实现", "已拒绝"];
        let (owners, priorities) = (["alice;", "bob;carol;", ""], ["High", "Low", ""]);
        let mut doc = doc_model::Doc(String::new());
        // What people wrote, in order (the blank doc's empty paragraph is theirs too).
        let mut theirs = vec![String::new()];
        let mut shown: Option<String> = None;
        for s in steps {
            match s {
                Step::Update { status, owner, priority, twice } => {
                    let names = CardNames { status: statuses[status].into(), iteration: None };
                    let card = card_text(Lang::ZhCn, &key, &item(owners[owner], priorities[priority]), url, &names);
                    for _ in 0..if twice { 2 } else { 1 } {
                        if let Plan::Write { edits, .. } = plan(&doc.read(), &key, &card, &legacy) {
                            doc.apply(&edits);
                        }
                    }
                    prop_assert_eq!(plan(&doc.read(), &key, &card, &legacy), Plan::Keep);
                    let paras = doc.paragraphs();
                    let cards: Vec<&String> = paras.iter().filter(|p| is_card(p, &key)).collect();
                    prop_assert_eq!(cards, vec![&card]);
                    let rest: Vec<String> = paras.into_iter().filter(|p| !is_card(p, &key)).collect();
                    prop_assert_eq!(&rest, &theirs);
                    shown = Some(card);
                }
                Step::Write { at, text } => {
                    let paras = doc.paragraphs();
                    let at = at % (paras.len() + 1);
                    let mut new = paras.clone();
                    new.insert(at, text.clone());
                    // Theirs in the doc's order: count the cards before `at`.
                    let before = paras[..at].iter().filter(|p| !is_card(p, &key)).count();
                    theirs.insert(before, text);
                    doc = doc_model::Doc(new.join("\n"));
                }
                Step::EditCard { text } => {
                    let mut paras = doc.paragraphs();
                    if let Some(i) = paras.iter().position(|p| is_card(p, &key)) {
                        let before = paras[..i].iter().filter(|p| !is_card(p, &key)).count();
                        paras[i].push_str(&text);
                        theirs.insert(before, paras[i].clone());
                        doc = doc_model::Doc(paras.join("\n"));
                    }
                }
                Step::DeleteCard => {
                    let mut paras = doc.paragraphs();
                    if let Some(i) = paras.iter().position(|p| is_card(p, &key)) && paras.len() > 1 {
                        paras.remove(i);
                        doc = doc_model::Doc(paras.join("\n"));
                    }
                }
            }
        }
        let _ = shown;
    }
}
