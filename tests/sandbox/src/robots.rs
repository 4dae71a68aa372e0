//! Group robots: WeCom's (企业微信 "群机器人配置说明") and DingTalk's ("自定义机器人接入"), as
//! their documents describe them. Both take `POST` JSON `{"msgtype":"text","text":{"content":..}}`
//! and answer HTTP 200 with `{"errcode":0,"errmsg":"ok"}`, or an `errcode` saying why not.
//!
//! - WeCom: `POST {base}/wecom/cgi-bin/webhook/send?key=KEY`; an unknown key → `errcode` 93000
//!   ("invalid webhook url"); a body that is not a text message → 40008 ("invalid message type");
//!   content over 2,048 bytes → 40058.
//! - DingTalk: `POST {base}/dingtalk/robot/send?access_token=TOKEN`; an unknown token → 300001
//!   ("token is not exist"); a robot with 加签 needs `timestamp` (ms, within an hour) and `sign` =
//!   base64(HMAC-SHA256(secret, "{timestamp}\n{secret}")), else 310000 ("sign not match").
//!
//! Control: `POST /_sandbox/robots {kind: wecom|dingtalk, key, secret?}` registers a robot;
//! `GET /_sandbox/robot-messages` lists what each received (`{kind, key, content}`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Sandbox;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RobotMessage {
    pub kind: String,
    pub key: String,
    pub content: String,
}

#[derive(Debug, Clone, Deserialize)]
struct NewRobot {
    kind: String,
    key: String,
    #[serde(default)]
    secret: Option<String>,
}

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/wecom/cgi-bin/webhook/send", post(wecom))
        .route("/dingtalk/robot/send", post(dingtalk))
        .route("/_sandbox/robots", post(add_robot))
        .route("/_sandbox/robot-messages", get(messages))
}

fn reply(code: i64, msg: &str) -> Json<Value> {
    Json(json!({ "errcode": code, "errmsg": msg }))
}

/// The text of a documented text message, or the robot's error.
fn text_of(body: &[u8]) -> Result<String, Json<Value>> {
    let v: Value = serde_json::from_slice(body).map_err(|_| reply(40008, "invalid message type"))?;
    if v["msgtype"] != "text" {
        return Err(reply(40008, "invalid message type"));
    }
    let content = v["text"]["content"].as_str().ok_or_else(|| reply(40008, "invalid message type"))?;
    if content.len() > 2048 {
        return Err(reply(40058, "content exceed max length"));
    }
    Ok(content.to_owned())
}

async fn wecom(State(sb): State<Sandbox>, Query(q): Query<BTreeMap<String, String>>, body: Bytes) -> Json<Value> {
    let key = q.get("key").cloned().unwrap_or_default();
    if !sb.lock().robots.contains_key(&("wecom".to_owned(), key.clone())) {
        return reply(93000, "invalid webhook url");
    }
    match text_of(&body) {
        Ok(content) => {
            sb.lock().robot_messages.push(RobotMessage { kind: "wecom".into(), key, content });
            reply(0, "ok")
        }
        Err(e) => e,
    }
}

async fn dingtalk(State(sb): State<Sandbox>, Query(q): Query<BTreeMap<String, String>>, body: Bytes) -> Json<Value> {
    let key = q.get("access_token").cloned().unwrap_or_default();
    let Some(secret) = sb.lock().robots.get(&("dingtalk".to_owned(), key.clone())).cloned() else {
        return reply(300001, "token is not exist");
    };
    if let Some(secret) = secret {
        let (Some(ts), Some(sign)) = (q.get("timestamp"), q.get("sign")) else {
            return reply(310000, "sign not match");
        };
        let now = crate::util::unix_ms();
        let fresh = ts.parse::<u64>().is_ok_and(|t| t.abs_diff(now) < 3_600_000);
        let key_ = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let want = ring::hmac::sign(&key_, format!("{ts}\n{secret}").as_bytes());
        if !fresh || base64::engine::general_purpose::STANDARD.encode(want.as_ref()) != *sign {
            return reply(310000, "sign not match");
        }
    }
    match text_of(&body) {
        Ok(content) => {
            sb.lock().robot_messages.push(RobotMessage { kind: "dingtalk".into(), key, content });
            reply(0, "ok")
        }
        Err(e) => e,
    }
}

async fn add_robot(State(sb): State<Sandbox>, Json(r): Json<NewRobot>) -> StatusCode {
    if !matches!(r.kind.as_str(), "wecom" | "dingtalk") || r.key.is_empty() {
        return StatusCode::BAD_REQUEST;
    }
    sb.add_robot(&r.kind, &r.key, r.secret.as_deref());
    StatusCode::NO_CONTENT
}

async fn messages(State(sb): State<Sandbox>) -> Json<Vec<RobotMessage>> {
    Json(sb.robot_messages())
}

impl Sandbox {
    /// Registers a group robot (`kind` `wecom` or `dingtalk`), with a DingTalk signing secret.
    pub fn add_robot(&self, kind: &str, key: &str, secret: Option<&str>) {
        self.lock().robots.insert((kind.to_owned(), key.to_owned()), secret.map(str::to_owned));
    }

    /// What the robots received, in order.
    pub fn robot_messages(&self) -> Vec<RobotMessage> {
        self.lock().robot_messages.clone()
    }
}
