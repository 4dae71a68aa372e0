//! DynamoDB items as DynamoDB's own JSON (`{"S": "..."}`, `{"N": "1"}`, `{"M": {...}}`, ...),
//! the format `aws dynamodb scan` prints, for the table dump in the data directory.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use serde_json::{Map, Value, json};

pub type Item = HashMap<String, AttributeValue>;

pub fn item_to_json(item: &Item) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, v) in item {
        out.insert(k.clone(), to_json(v).map_err(|e| format!("{k}: {e}"))?);
    }
    Ok(Value::Object(out))
}

pub fn item_from_json(value: &Value) -> Result<Item, String> {
    let obj = value.as_object().ok_or("an item must be a JSON object")?;
    obj.iter().map(|(k, v)| Ok((k.clone(), from_json(v).map_err(|e| format!("{k}: {e}"))?))).collect()
}

pub fn to_json(v: &AttributeValue) -> Result<Value, String> {
    Ok(match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": B64.encode(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        AttributeValue::Bs(bs) => json!({ "BS": bs.iter().map(|b| B64.encode(b.as_ref())).collect::<Vec<_>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(to_json).collect::<Result<Vec<_>, _>>()? }),
        AttributeValue::M(m) => json!({ "M": item_to_json(m)? }),
        other => return Err(format!("unsupported attribute value {other:?}")),
    })
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or("expected a list")?
        .iter()
        .map(|s| s.as_str().map(String::from).ok_or_else(|| "expected strings".to_string()))
        .collect()
}

fn blob(s: &str) -> Result<Blob, String> {
    B64.decode(s).map(Blob::new).map_err(|e| format!("bad base64: {e}"))
}

pub fn from_json(v: &Value) -> Result<AttributeValue, String> {
    let obj = v.as_object().filter(|o| o.len() == 1).ok_or("an attribute value is an object with one key")?;
    let (tag, inner) = obj.iter().next().expect("one key");
    let text = || inner.as_str().ok_or_else(|| format!("{tag}: expected a string"));
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(text()?.to_string()),
        "N" => AttributeValue::N(text()?.to_string()),
        "B" => AttributeValue::B(blob(text()?)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL: expected a boolean")?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(strings(inner)?.iter().map(|s| blob(s)).collect::<Result<_, _>>()?),
        "L" => AttributeValue::L(
            inner.as_array().ok_or("L: expected a list")?.iter().map(from_json).collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(item_from_json(inner)?),
        other => return Err(format!("unknown attribute type {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips() {
        let mut inner = Item::new();
        inner.insert("n".into(), AttributeValue::N("1.5".into()));
        let mut item = Item::new();
        item.insert("pk".into(), AttributeValue::S("WS#1".into()));
        item.insert("n".into(), AttributeValue::N("42".into()));
        item.insert("b".into(), AttributeValue::B(Blob::new(vec![0u8, 255, 7])));
        item.insert("t".into(), AttributeValue::Bool(true));
        item.insert("z".into(), AttributeValue::Null(true));
        item.insert("ss".into(), AttributeValue::Ss(vec!["a".into(), "b".into()]));
        item.insert("ns".into(), AttributeValue::Ns(vec!["1".into()]));
        item.insert("bs".into(), AttributeValue::Bs(vec![Blob::new(vec![1u8])]));
        item.insert(
            "l".into(),
            AttributeValue::L(vec![AttributeValue::S("x".into()), AttributeValue::M(inner.clone())]),
        );
        item.insert("m".into(), AttributeValue::M(inner));
        let json = item_to_json(&item).unwrap();
        assert_eq!(json["pk"], json!({"S": "WS#1"}));
        assert_eq!(json["b"], json!({"B": "AP8H"}));
        let text = serde_json::to_string(&json).unwrap();
        let back = item_from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, item);
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(from_json(&json!({"S": 1})).is_err());
        assert!(from_json(&json!({"S": "a", "N": "1"})).is_err());
        assert!(from_json(&json!({"X": "a"})).is_err());
        assert!(from_json(&json!({"B": "!!"})).is_err());
        assert!(item_from_json(&json!([1])).is_err());
    }
}
