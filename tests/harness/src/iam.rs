//! What AWS would allow: `template.yaml` resolved for concrete parameters (conditions,
//! `!If`, `!Sub`, `!Ref`, `!GetAtt`, `!FindInMap`, `!Join`, SAM's `Globals`), each
//! function's role as IAM policy statements, and an evaluator of requests against them
//! (actions, resources and conditions with IAM's wildcards and set operators, explicit
//! denies first). The least-privilege suite checks every recorded call with it
//! ([`crate::ddb_proxy::DdbCall`], secrets read through the extension), and the template
//! suite every URL a deployment prints.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::ddb_proxy::{DdbCall, SesCall};

/// The account, region and names a deployment resolves to.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub account: String,
    pub region: String,
    pub stack: String,
    /// The stack's table's physical name (`!Ref Table`).
    pub table: String,
    /// The HTTP API's id (`!Ref HttpApi`).
    pub api_id: String,
    /// Parameters given (the template's defaults for the rest).
    pub parameters: BTreeMap<String, String>,
}

impl Deployment {
    /// `us-east-1`, account `123456789012`, the given table; the required parameters filled.
    pub fn new(table: &str) -> Self {
        let parameters = [("TapdClientId", "tapd-app"), ("TdocClientId", "tdoc-app")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Deployment {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            stack: "tapd-docs".into(),
            table: table.into(),
            api_id: "a1b2c3d4e5".into(),
            parameters,
        }
    }

    pub fn with(mut self, parameter: &str, value: &str) -> Self {
        self.parameters.insert(parameter.into(), value.into());
        self
    }

    pub fn table_arn(&self, table: &str) -> String {
        format!("arn:aws:dynamodb:{}:{}:table/{table}", self.region, self.account)
    }
}

/// `template.yaml`, parsed (custom tags kept).
pub struct Template {
    doc: Yaml,
}

impl Template {
    pub fn load() -> Template {
        let path = crate::workspace_root().join("template.yaml");
        let text = std::fs::read_to_string(&path).expect("template.yaml");
        Template { doc: serde_yaml::from_str(&text).expect("template.yaml is YAML") }
    }

    pub fn resolve(&self, d: &Deployment) -> Resolved<'_> {
        for name in d.parameters.keys() {
            assert!(self.doc["Parameters"].get(name.as_str()).is_some(), "the template has no parameter {name}");
        }
        let mut r = Resolved { doc: &self.doc, d: d.clone(), conditions: BTreeMap::new() };
        if let Some(conditions) = self.doc["Conditions"].as_mapping() {
            for name in conditions.keys().filter_map(Yaml::as_str) {
                let v = r.condition(name);
                r.conditions.insert(name.to_owned(), v);
            }
        }
        r
    }
}

/// The template for one deployment.
pub struct Resolved<'a> {
    doc: &'a Yaml,
    d: Deployment,
    conditions: BTreeMap<String, bool>,
}

/// `(tag, value)` of an intrinsic in either form (`!Ref X`, `{"Ref": X}`, `{"Fn::If": ...}`).
fn intrinsic(v: &Yaml) -> Option<(String, &Yaml)> {
    match v {
        Yaml::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_owned(), &t.value)),
        Yaml::Mapping(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next()?;
            let k = k.as_str()?;
            match k {
                "Ref" | "Condition" => Some((k.to_owned(), inner)),
                _ => k.strip_prefix("Fn::").map(|f| (f.to_owned(), inner)),
            }
        }
        _ => None,
    }
}

fn scalar_string(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

impl Resolved<'_> {
    pub fn deployment(&self) -> &Deployment {
        &self.d
    }

    /// A condition of the template's `Conditions`.
    pub fn condition(&self, name: &str) -> bool {
        if let Some(v) = self.conditions.get(name) {
            return *v;
        }
        let def = self.doc["Conditions"].get(name).unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(def)
    }

    fn truth(&self, v: &Yaml) -> bool {
        let (f, arg) = intrinsic(v).unwrap_or_else(|| panic!("not a condition: {v:?}"));
        let args = || arg.as_sequence().unwrap_or_else(|| panic!("{f} takes a list: {arg:?}"));
        match f.as_str() {
            "Equals" => {
                let a = args();
                self.string(&a[0]) == self.string(&a[1])
            }
            "Not" => !self.truth(&args()[0]),
            "And" => args().iter().all(|c| self.truth(c)),
            "Or" => args().iter().any(|c| self.truth(c)),
            "Condition" => self.condition(arg.as_str().expect("a condition's name")),
            other => panic!("condition function {other} is not supported"),
        }
    }

    fn parameter(&self, name: &str) -> Option<String> {
        let p = self.doc["Parameters"].get(name)?;
        Some(self.d.parameters.get(name).cloned().unwrap_or_else(|| match &p["Default"] {
            Yaml::String(s) => s.clone(),
            Yaml::Number(n) => n.to_string(),
            Yaml::Bool(b) => b.to_string(),
            Yaml::Null => panic!("parameter {name} has no default: give it"),
            other => panic!("parameter {name}: default {other:?}"),
        }))
    }

    /// `!Ref name`: a parameter, a pseudo parameter, or a resource's physical id; `None` for
    /// `AWS::NoValue`.
    fn reference(&self, name: &str) -> Option<String> {
        let d = &self.d;
        Some(match name {
            "AWS::NoValue" => return None,
            "AWS::Region" => d.region.clone(),
            "AWS::AccountId" => d.account.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackName" => d.stack.clone(),
            "Table" => d.table.clone(),
            "HttpApi" => d.api_id.clone(),
            _ => match self.parameter(name) {
                Some(v) => v,
                None => {
                    let (resource, _) = name.split_once('.').unwrap_or((name, ""));
                    assert!(
                        self.doc["Resources"].get(resource).is_some(),
                        "!Ref {name}: no such parameter or resource"
                    );
                    format!("{}-{name}", d.stack)
                }
            },
        })
    }

    fn get_att(&self, resource: &str, attribute: &str) -> String {
        let d = &self.d;
        let r = self.doc["Resources"].get(resource).unwrap_or_else(|| panic!("!GetAtt {resource}: no such resource"));
        let ty = r["Type"].as_str().unwrap_or_default();
        match (ty, attribute) {
            ("AWS::DynamoDB::Table", "Arn") => d.table_arn(&d.table),
            ("AWS::Logs::LogGroup", "Arn") => {
                let name = self.string(&r["Properties"]["LogGroupName"]);
                format!("arn:aws:logs:{}:{}:log-group:{name}:*", d.region, d.account)
            }
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{}:role/{}-{resource}", d.account, d.stack),
            ("AWS::ApiGatewayV2::DomainName", "RegionalDomainName") => {
                format!("d-0123456789.execute-api.{}.amazonaws.com", d.region)
            }
            _ => format!("arn:aws:{ty}:{}:{}:{resource}.{attribute}", d.region, d.account),
        }
    }

    fn string(&self, v: &Yaml) -> String {
        scalar_string(&self.value(v).unwrap_or(Json::Null))
    }

    fn sub(&self, template: &str, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('}').unwrap_or_else(|| panic!("!Sub {template:?}: unclosed ${{")) + at;
            let name = &rest[at + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if let Some((res, att)) = name.split_once('.').filter(|(r, _)| !r.starts_with("AWS::")) {
                out.push_str(&self.get_att(res, att));
            } else {
                out.push_str(
                    &self.reference(name).unwrap_or_else(|| panic!("!Sub {template:?}: ${{{name}}} has no value")),
                );
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A template value with every intrinsic resolved; `None` for `AWS::NoValue`.
    pub fn value(&self, v: &Yaml) -> Option<Json> {
        if let Some((f, arg)) = intrinsic(v) {
            return match f.as_str() {
                "Ref" => self.reference(arg.as_str().expect("!Ref name")).map(Json::String),
                "GetAtt" => {
                    let (res, att) = match arg {
                        Yaml::String(s) => s.split_once('.').map(|(r, a)| (r.to_owned(), a.to_owned())),
                        Yaml::Sequence(s) => Some((self.string(&s[0]), self.string(&s[1]))),
                        _ => None,
                    }
                    .unwrap_or_else(|| panic!("!GetAtt {arg:?}"));
                    Some(Json::String(self.get_att(&res, &att)))
                }
                "If" => {
                    let s = arg.as_sequence().expect("!If [condition, then, else]");
                    let c = self.condition(s[0].as_str().expect("!If's condition name"));
                    self.value(&s[if c { 1 } else { 2 }])
                }
                "Sub" => {
                    let (template, vars) = match arg {
                        Yaml::String(s) => (s.clone(), BTreeMap::new()),
                        Yaml::Sequence(s) => {
                            let vars = s[1]
                                .as_mapping()
                                .into_iter()
                                .flatten()
                                .map(|(k, v)| (k.as_str().unwrap().to_owned(), self.string(v)))
                                .collect();
                            (s[0].as_str().expect("!Sub [template, vars]").to_owned(), vars)
                        }
                        other => panic!("!Sub {other:?}"),
                    };
                    Some(Json::String(self.sub(&template, &vars)))
                }
                "FindInMap" => {
                    let s = arg.as_sequence().expect("!FindInMap [map, key, key]");
                    let (map, k1, k2) = (self.string(&s[0]), self.string(&s[1]), self.string(&s[2]));
                    match self.doc["Mappings"][map.as_str()].get(k1.as_str()).and_then(|m| m.get(k2.as_str())) {
                        Some(v) => self.value(v),
                        None => s.get(3).and_then(|o| o.get("DefaultValue")).and_then(|v| self.value(v)),
                    }
                }
                "Join" => {
                    let s = arg.as_sequence().expect("!Join [delimiter, list]");
                    let parts = match self.value(&s[1]) {
                        Some(Json::Array(a)) => a.iter().map(scalar_string).collect::<Vec<_>>(),
                        other => panic!("!Join of {other:?}"),
                    };
                    Some(Json::String(parts.join(&self.string(&s[0]))))
                }
                "Split" => {
                    let s = arg.as_sequence().expect("!Split [delimiter, string]");
                    let (delimiter, whole) = (self.string(&s[0]), self.string(&s[1]));
                    Some(Json::Array(whole.split(delimiter.as_str()).map(|p| Json::String(p.to_owned())).collect()))
                }
                "Select" => {
                    let s = arg.as_sequence().expect("!Select [index, list]");
                    let i: usize = self.string(&s[0]).parse().expect("!Select index");
                    match self.value(&s[1]) {
                        Some(Json::Array(a)) => a.get(i).cloned(),
                        other => panic!("!Select from {other:?}"),
                    }
                }
                other => panic!("intrinsic {other} is not supported"),
            };
        }
        Some(match v {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => serde_json::to_value(n).expect("a number"),
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(s) => Json::Array(s.iter().filter_map(|x| self.value(x)).collect()),
            Yaml::Mapping(m) => Json::Object(
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str().expect("a string key").to_owned(), self.value(v)?)))
                    .collect(),
            ),
            Yaml::Tagged(t) => panic!("tag {} is not supported", t.tag),
        })
    }

    /// Whether a resource is created (its `Condition`, if any, holds).
    pub fn exists(&self, resource: &str) -> bool {
        let r = &self.doc["Resources"][resource];
        assert!(!r.is_null(), "no resource {resource}");
        r["Condition"].as_str().is_none_or(|c| self.condition(c))
    }

    /// Logical ids of the resources of a type that this deployment creates.
    pub fn resources_of(&self, ty: &str) -> Vec<String> {
        self.doc["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(_, r)| r["Type"].as_str() == Some(ty))
            .filter_map(|(k, _)| k.as_str().map(str::to_owned))
            .filter(|k| self.exists(k))
            .collect()
    }

    /// A function's environment: SAM's `Globals` merged with its own variables.
    pub fn function_env(&self, function: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for vars in [
            &self.doc["Globals"]["Function"]["Environment"]["Variables"],
            &self.doc["Resources"][function]["Properties"]["Environment"]["Variables"],
        ] {
            if let Some(Json::Object(m)) = self.value(vars) {
                env.extend(m.into_iter().map(|(k, v)| (k, scalar_string(&v))));
            }
        }
        env
    }

    /// The stack's outputs this deployment has, resolved.
    pub fn outputs(&self) -> BTreeMap<String, String> {
        self.doc["Outputs"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(_, o)| o["Condition"].as_str().is_none_or(|c| self.condition(c)))
            .map(|(k, o)| (k.as_str().unwrap().to_owned(), self.string(&o["Value"])))
            .collect()
    }

    /// The logical id of a function's role (`Role: !GetAtt X.Arn`).
    pub fn role_of(&self, function: &str) -> String {
        let role = &self.doc["Resources"][function]["Properties"]["Role"];
        match intrinsic(role) {
            Some((f, Yaml::String(s))) if f == "GetAtt" => s.split('.').next().unwrap().to_owned(),
            _ => panic!("{function}'s Role is not !GetAtt <role>.Arn: {role:?}"),
        }
    }

    /// Every statement that applies to a function's role: its inline policies and the
    /// `AWS::IAM::Policy` resources this deployment creates for it.
    pub fn policy_of(&self, function: &str) -> Policy {
        let role = self.role_of(function);
        let mut statements = Vec::new();
        let mut add = |at: String, doc: &Yaml| {
            match self.value(&doc["Statement"]) {
                Some(Json::Array(a)) => statements.extend(a.iter().map(|s| Statement::parse(&at, s))),
                Some(s @ Json::Object(_)) => statements.push(Statement::parse(&at, &s)),
                _ => {}
            };
        };
        for p in self.doc["Resources"][role.as_str()]["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            add(format!("{role}/{}", p["PolicyName"].as_str().unwrap_or("?")), &p["PolicyDocument"]);
        }
        for name in self.resources_of("AWS::IAM::Policy") {
            let p = &self.doc["Resources"][name.as_str()]["Properties"];
            let attached = match self.value(&p["Roles"]) {
                Some(Json::Array(roles)) => roles.iter().any(|r| r.as_str() == self.reference(&role).as_deref()),
                _ => false,
            };
            if attached {
                add(name, &p["PolicyDocument"]);
            }
        }
        Policy { statements }
    }
}

/// A policy: the statements that apply to a principal.
#[derive(Debug, Clone)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
pub struct Statement {
    /// Where it is (role/policy name, or the policy document's name).
    pub at: String,
    pub allow: bool,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub resources: Vec<String>,
    /// `(operator, key, values)`.
    pub conditions: Vec<(String, String, Vec<String>)>,
}

fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::Array(a) => a.iter().map(scalar_string).collect(),
        Json::Null => Vec::new(),
        other => vec![scalar_string(other)],
    }
}

impl Statement {
    pub fn parse(at: &str, s: &Json) -> Statement {
        assert!(
            s.get("NotResource").is_none() && s.get("Principal").is_none(),
            "{at}: not an identity policy statement"
        );
        let mut conditions = Vec::new();
        for (op, keys) in s["Condition"].as_object().into_iter().flatten() {
            for (key, values) in keys.as_object().unwrap_or_else(|| panic!("{at}: condition {op}")) {
                conditions.push((op.clone(), key.clone(), strings(values)));
            }
        }
        Statement {
            at: at.to_owned(),
            allow: match s["Effect"].as_str() {
                Some("Allow") => true,
                Some("Deny") => false,
                other => panic!("{at}: Effect {other:?}"),
            },
            actions: strings(&s["Action"]),
            not_actions: strings(&s["NotAction"]),
            resources: strings(&s["Resource"]),
            conditions,
        }
    }

    fn applies(&self, r: &Request) -> bool {
        let action = if self.not_actions.is_empty() {
            self.actions.iter().any(|a| glob(&a.to_ascii_lowercase(), &r.action.to_ascii_lowercase()))
        } else {
            !self.not_actions.iter().any(|a| glob(&a.to_ascii_lowercase(), &r.action.to_ascii_lowercase()))
        };
        action
            && self.resources.iter().any(|p| glob(p, &r.resource))
            && self.conditions.iter().all(|(op, key, values)| condition(op, values, r.context(key)))
    }
}

/// IAM's wildcards: `*` any run of characters, `?` any one.
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One condition operator over the request's values of its key (`None`: the key is absent),
/// as IAM evaluates it: `ForAllValues:` holds when every value matches (so also when there is
/// none), `ForAnyValue:` when one does; a single-valued operator needs the key (unless
/// `...IfExists`).
fn condition(op: &str, patterns: &[String], values: Option<&[String]>) -> bool {
    let (set, base) = match op.split_once(':') {
        Some((set, base)) => (Some(set), base),
        None => (None, op),
    };
    let (base, if_exists) = match base.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (base, false),
    };
    if base == "Null" {
        let want_absent = patterns.iter().any(|p| p == "true");
        return values.is_none_or(<[String]>::is_empty) == want_absent;
    }
    let one = |v: &str| -> bool {
        let hit = |p: &String| match base {
            "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" => p == v,
            "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => p.eq_ignore_ascii_case(v),
            "StringLike" | "StringNotLike" | "ArnLike" | "ArnNotLike" => glob(p, v),
            other => panic!("condition operator {other} is not supported"),
        };
        let negated = base.contains("Not");
        patterns.iter().any(hit) != negated
    };
    let values = values.unwrap_or_default();
    match set {
        Some("ForAllValues") => values.iter().all(|v| one(v)),
        Some("ForAnyValue") => values.iter().any(|v| one(v)),
        Some(other) => panic!("condition set operator {other} is not supported"),
        None => match values {
            [] => if_exists,
            [v] => one(v),
            many => panic!("{op} on a key with {} values: use ForAllValues or ForAnyValue", many.len()),
        },
    }
}

/// A request to authorize: an action on a resource, with its context keys.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(action: &str, resource: &str) -> Request {
        Request { action: action.into(), resource: resource.into(), context: BTreeMap::new() }
    }

    fn context(&self, key: &str) -> Option<&[String]> {
        self.context.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_slice())
    }
}

impl Policy {
    /// A policy document (`{"Version": ..., "Statement": [...]}`), e.g. one a doc gives.
    pub fn from_document(at: &str, doc: &Json) -> Policy {
        Policy { statements: strings_or_objects(&doc["Statement"]).iter().map(|s| Statement::parse(at, s)).collect() }
    }

    /// `Ok` when an Allow statement matches and no Deny does; else why not.
    pub fn allows(&self, r: &Request) -> Result<(), String> {
        if let Some(deny) = self.statements.iter().find(|s| !s.allow && s.applies(r)) {
            return Err(format!("explicitly denied by {}", deny.at));
        }
        match self.statements.iter().find(|s| s.allow && s.applies(r)) {
            Some(_) => Ok(()),
            None => Err("no statement allows it".into()),
        }
    }
}

fn strings_or_objects(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(a) => a.clone(),
        Json::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The request IAM authorizes for a recorded DynamoDB call, in `d`'s account and region.
pub fn ddb_request(d: &Deployment, call: &DdbCall) -> Request {
    let mut resource = d.table_arn(&call.table);
    if let Some(index) = &call.index {
        resource = format!("{resource}/index/{index}");
    }
    let mut r = Request::new(&format!("dynamodb:{}", call.operation), &resource);
    if !call.keys.is_empty() {
        r.context.insert("dynamodb:LeadingKeys".into(), call.keys.clone());
    }
    r
}

/// The calls `policy` would not allow, each named with `who` made it and why.
pub fn denied_ddb_calls(d: &Deployment, policy: &Policy, who: &str, calls: &[DdbCall]) -> Vec<String> {
    denied(policy, who, calls, |c| ddb_request(d, c))
}

/// The calls of any service `policy` would not allow, as `request` makes them.
fn denied<C: std::fmt::Display>(
    policy: &Policy,
    who: &str,
    calls: &[C],
    request: impl Fn(&C) -> Request,
) -> Vec<String> {
    let mut out: Vec<String> =
        calls.iter().filter_map(|c| policy.allows(&request(c)).err().map(|why| format!("{who}: {c}: {why}"))).collect();
    out.dedup();
    out
}

/// The request IAM authorizes for a recorded SES v2 call: the action on the sender's identity
/// in SES's region (`NotifyEmailRegion`, else the stack's), with `ses:FromAddress`.
pub fn ses_request(d: &Deployment, call: &SesCall) -> Request {
    let region = d.parameters.get("NotifyEmailRegion").filter(|r| !r.is_empty()).unwrap_or(&d.region);
    let mut r = Request::new(
        &format!("ses:{}", call.operation),
        &format!("arn:aws:ses:{region}:{}:identity/{}", d.account, call.from),
    );
    r.context.insert("ses:FromAddress".into(), vec![call.from.clone()]);
    r
}

/// The SES calls `policy` would not allow, each named with who made it and why.
pub fn denied_ses_calls(d: &Deployment, policy: &Policy, who: &str, calls: &[SesCall]) -> Vec<String> {
    denied(policy, who, calls, |c| ses_request(d, c))
}

/// The requests reading a secret by ARN takes through the extension: `GetSecretValue` (or
/// `ssm:GetParameter`) on it, and `kms:Decrypt` on the key it is encrypted with, if a
/// customer-managed one.
pub fn secret_requests(arn: &str, kms_key: Option<&str>) -> Vec<Request> {
    let action = match arn.split(':').nth(2) {
        Some("ssm") => "ssm:GetParameter",
        _ => "secretsmanager:GetSecretValue",
    };
    let mut out = vec![Request::new(action, arn)];
    if let Some(key) = kms_key {
        out.push(Request::new("kms:Decrypt", key));
    }
    out
}

/// A JSON policy document from a fenced ```json block of a Markdown file that contains
/// `marker`.
pub fn policy_in_markdown(markdown: &str, marker: &str) -> Option<Json> {
    markdown
        .split("```json")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains(marker))
        .map(|block| serde_json::from_str(block).unwrap_or_else(|e| panic!("the policy block is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ddb(op: &str, index: Option<&str>, keys: &[&str]) -> DdbCall {
        DdbCall {
            operation: op.into(),
            via: None,
            table: "t".into(),
            index: index.map(str::to_owned),
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn policy() -> Policy {
        Policy::from_document(
            "test",
            &json!({"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                 "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/t",
                 "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WS#*", "ITEM#*"]}}},
                {"Effect": "Allow", "Action": "dynamodb:Query",
                 "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/t/index/pending",
                 "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["PENDING"]}}},
                {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*",
                 "Condition": {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["WS#9*"]}}}
            ]}),
        )
    }

    #[test]
    fn calls_are_allowed_only_by_a_statement_whose_action_resource_and_condition_match() {
        let d = Deployment::new("t");
        let p = policy();
        let ok = |c: DdbCall| p.allows(&ddb_request(&d, &c));
        assert!(ok(ddb("GetItem", None, &["WS#1"])).is_ok());
        assert!(ok(ddb("GetItem", None, &["SWEEP#1"])).is_err(), "a prefix not listed");
        assert!(ok(ddb("GetItem", None, &["WS#1", "SWEEP#1"])).is_err(), "every key must match");
        assert!(ok(ddb("DeleteItem", None, &["WS#1"])).is_err(), "an action not listed");
        assert!(ok(ddb("Query", Some("pending"), &["PENDING"])).is_ok());
        assert!(ok(ddb("Query", Some("pending"), &["GIVEN_UP"])).is_err(), "the index's partition value");
        assert!(ok(ddb("Query", Some("workspace_items"), &["PENDING"])).is_err(), "another index");
        assert!(ok(ddb("Query", None, &["PENDING"])).is_err(), "the table, not the index");
        assert!(ok(ddb("PutItem", None, &["WS#90"])).unwrap_err().contains("explicitly denied"));
        // ForAllValues holds on a request without the key (a Scan's): IAM's own pitfall.
        let scan_like = Policy::from_document(
            "t",
            &json!({"Statement": {"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": "arn:aws:dynamodb:*:*:table/t",
                   "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WS#*"]}}}}),
        );
        assert!(scan_like.allows(&ddb_request(&d, &ddb("Scan", None, &[]))).is_ok());
    }

    #[test]
    fn globs_and_operators() {
        assert!(glob("WS#*", "WS#123") && glob("a?c", "abc") && glob("*", "") && !glob("WS#*", "XWS#1"));
        assert!(glob("arn:aws:dynamodb:*:*:table/t/index/*", "arn:aws:dynamodb:us-east-1:1:table/t/index/pending"));
        let v = ["x".to_owned()];
        assert!(condition("StringEquals", &["x".into()], Some(&v)));
        assert!(!condition("StringEquals", &["x".into()], None));
        assert!(condition("StringEqualsIfExists", &["x".into()], None));
        assert!(condition("StringNotLike", &["y*".into()], Some(&v)));
        assert!(!condition("ForAnyValue:StringLike", &["x".into()], None));
        assert!(condition("Null", &["true".into()], None));
    }
}
