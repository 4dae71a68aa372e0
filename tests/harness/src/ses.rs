//! The local SES: moto's SES v2, served on the local DynamoDB's endpoint (moto serves every
//! service on one port; the stack points `AWS_ENDPOINT_URL_SESV2` there). Like SES, it refuses
//! to send from an unverified sender; what it sent is read back from moto's state
//! (`/moto-api/data.json`, the `ses` backend's `Message` models).

use crate::dynamo;

/// An SES v2 client on the local endpoint, built as the functions build theirs.
pub fn client() -> aws_sdk_sesv2::Client {
    let endpoint = dynamo::endpoint();
    shared::store::Store::ses_client(move |name| match name {
        "AWS_ENDPOINT_URL_SESV2" => Some(endpoint.clone()),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("test".into()),
        _ => None,
    })
}

/// Verifies a sender identity, as a deployer does in the SES console.
pub async fn verify_sender(address: &str) {
    client().create_email_identity().email_identity(address).send().await.expect("moto verifies the identity");
}

/// One e-mail moto took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Every e-mail sent to `address` so far, oldest first (moto keeps them per process, shared
/// by the suites: each test mails its own address).
pub async fn sent_to(address: &str) -> Vec<Sent> {
    let url = format!("{}/moto-api/data.json", dynamo::endpoint());
    let data: serde_json::Value =
        reqwest::get(&url).await.expect("moto's state").json().await.expect("moto's state is JSON");
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Sent {
            from: s(&m["source"]),
            to: m["destinations"]["ToAddresses"].as_array().into_iter().flatten().map(s).collect(),
            subject: s(&m["subject"]),
            body: s(&m["body"]),
        })
        .filter(|m| m.to.iter().any(|t| t == address))
        .collect()
}
