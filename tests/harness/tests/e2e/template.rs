//! `template.yaml` holds the deployment's security promises: least privilege (no wildcard
//! action or resource, DynamoDB calls limited to each function's key prefixes), secrets
//! never in plain parameters (or read by ARN), the table encrypted and recoverable, the HTTP
//! API throttled per route and access-logged without queries, alarms on errors, events left
//! pending, webhook 4xx and throttling, and rebinds. This reads the template and checks
//! each, and runs `cfn-lint` and `sam validate` (the SAM translator, and `--lint`) on it.

use std::collections::BTreeSet;

use serde_yaml::Value;
use shared::link::metrics;

fn template() -> Value {
    let path = harness::workspace_root().join("template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(&path).expect("template.yaml")).expect("template.yaml is YAML")
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"].as_mapping().expect("Resources").iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v)).collect()
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(String, &'a Value)> {
    resources(t).into_iter().filter(|(_, r)| r["Type"].as_str() == Some(ty)).collect()
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// `(tag, value)` of an intrinsic function in short form (`!Ref X`), or `None`.
fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

/// The values an expression may take: both branches of an `!If` (minus `AWS::NoValue`).
fn branches(v: &Value) -> Vec<&Value> {
    match tagged(v) {
        Some((tag, inner)) if tag == "!If" => {
            let s = inner.as_sequence().expect("!If [condition, then, else]");
            s[1..].iter().flat_map(branches).collect()
        }
        Some((tag, inner)) if tag == "!Ref" && inner.as_str() == Some("AWS::NoValue") => Vec::new(),
        _ => vec![v],
    }
}

/// Parameters holding the ARN of a secret (`TapdClientSecretArn`...): not secrets themselves.
fn is_arn_parameter(name: &str) -> bool {
    name.ends_with("Arn")
}

/// The logical id a `!Ref`, `!GetAtt` or `!Sub` resource expression is derived from.
fn derived_from(v: &Value) -> Option<String> {
    let (tag, inner) = tagged(v)?;
    let s = inner.as_str()?;
    match tag.as_str() {
        "!Ref" => Some(s.to_owned()),
        "!GetAtt" => s.split('.').next().map(str::to_owned),
        // Only a substitution that starts from a resource: "${Table.Arn}/index/pending".
        "!Sub" => s.strip_prefix("${").and_then(|r| r.split(['.', '}']).next()).map(str::to_owned),
        _ => None,
    }
}

/// Every statement of every IAM policy in the template, with where it is.
fn policy_statements(t: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (name, r) in of_type(t, "AWS::IAM::Role") {
        for p in list(&r["Properties"]["Policies"]) {
            for s in list(&p["PolicyDocument"]["Statement"]) {
                out.push((format!("{name}/{}", p["PolicyName"].as_str().unwrap_or("?")), s));
            }
        }
    }
    for ty in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (name, r) in of_type(t, ty) {
            for s in list(&r["Properties"]["PolicyDocument"]["Statement"]) {
                out.push((name.clone(), s));
            }
        }
    }
    out
}

#[test]
fn no_policy_grants_a_wildcard_action_or_resource() {
    let t = template();
    let declared: BTreeSet<String> = resources(&t).into_iter().map(|(n, _)| n).collect();
    let statements = policy_statements(&t);
    assert!(statements.len() >= 4, "the functions' roles are declared in the template");
    for (at, s) in statements {
        assert_eq!(s["Effect"].as_str(), Some("Allow"), "{at}");
        assert!(s.get("NotAction").is_none() && s.get("NotResource").is_none(), "{at}: Not* grants everything else");
        let actions = list(&s["Action"]);
        assert!(!actions.is_empty(), "{at}");
        for a in actions {
            let a = a.as_str().unwrap_or_else(|| panic!("{at}: action {a:?}"));
            assert!(!a.contains('*'), "{at}: wildcard action {a}");
            assert!(a.split_once(':').is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty()), "{at}: {a}");
        }
        let res: Vec<&Value> = list(&s["Resource"]).into_iter().flat_map(branches).collect();
        assert!(!res.is_empty(), "{at}: no resource");
        // E-mail: SES identities named by the deployer's sender, and only from it.
        if list(&s["Action"]).iter().all(|a| a.as_str() == Some("ses:SendEmail")) {
            for r in res {
                let sub = tagged(r).filter(|(tag, _)| tag == "!Sub").map(|(_, v)| v);
                let template = sub.and_then(|v| list(v).first().and_then(|t| t.as_str()));
                assert!(
                    template.is_some_and(|t| t.contains(":ses:") && t.contains(":identity/${")),
                    "{at}: SES resource {r:?} is not the sender's identity"
                );
            }
            let from = &s["Condition"]["StringEquals"]["ses:FromAddress"];
            assert_eq!(derived_from(from).as_deref(), Some("NotifyEmailFrom"), "{at}: sends only from the sender");
            continue;
        }
        let reads_secrets = list(&s["Action"])
            .iter()
            .all(|a| matches!(a.as_str(), Some("secretsmanager:GetSecretValue" | "ssm:GetParameter" | "kms:Decrypt")));
        for r in res {
            // The table a restore runs on (`ExistingTableName`): the stack's table by name.
            if tagged(r).and_then(|(_, v)| v.as_str()).is_some_and(|v| v.contains(":table/${ExistingTableName}")) {
                continue;
            }
            let from = derived_from(r).unwrap_or_else(|| panic!("{at}: resource {r:?} is not one of the stack's"));
            // Secrets given by ARN are the one outside resource, and only to be read.
            let secret_arn = reads_secrets && is_arn_parameter(&from) && t["Parameters"].get(from.as_str()).is_some();
            assert!(declared.contains(&from) || secret_arn, "{at}: {from} is not declared here");
        }
    }
    // The functions use those roles, not SAM's policies (whose basic execution role logs to "*").
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        let p = &f["Properties"];
        assert!(p.get("Policies").is_none(), "{name}: SAM policies");
        let role = derived_from(&p["Role"]).unwrap_or_else(|| panic!("{name}: no role of the stack"));
        assert_eq!(t["Resources"][role.as_str()]["Type"].as_str(), Some("AWS::IAM::Role"), "{name}");
    }
    for (name, r) in of_type(&t, "AWS::IAM::Role") {
        assert!(r["Properties"].get("ManagedPolicyArns").is_none(), "{name}: managed policies");
    }
}

#[test]
fn secrets_are_never_plain_parameters() {
    let t = template();
    let params = t["Parameters"].as_mapping().unwrap();
    let secret_name = |n: &str| ["secret", "key", "token", "password"].iter().any(|w| n.to_lowercase().contains(w));
    let mut secret_params = BTreeSet::new();
    let mut arn_params = BTreeSet::new();
    for (name, p) in params {
        let name = name.as_str().unwrap();
        if is_arn_parameter(name) {
            arn_params.insert(name.to_owned());
        } else if secret_name(name) {
            assert_eq!(p["NoEcho"].as_bool(), Some(true), "parameter {name} must be NoEcho");
            // Empty only where the secret may come by ARN instead, and a rule asks for one.
            if let Some(d) = p.get("Default") {
                assert_eq!(d.as_str(), Some(""), "parameter {name} has a default");
                assert!(params.contains_key(format!("{name}Arn").as_str()), "{name} has a default and no ARN");
                let rule = format!("{:?}", t["Rules"]);
                assert!(rule.contains(&format!("{name}Arn")) && rule.contains(name), "no rule asks for {name}");
            }
            secret_params.insert(name.to_owned());
        }
    }
    assert!(secret_params.len() >= 4, "{secret_params:?}");
    // Every secret variable a function gets is one of those, or a Secrets Manager reference.
    let mut vars = Vec::new();
    if let Some(g) = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping() {
        vars.extend(g.iter());
    }
    for (_, f) in of_type(&t, "AWS::Serverless::Function") {
        if let Some(v) = f["Properties"]["Environment"]["Variables"].as_mapping() {
            vars.extend(v.iter());
        }
    }
    let mut checked = 0;
    for (k, v) in vars {
        let k = k.as_str().unwrap();
        // (`WEBHOOK_SECRET_GRACE` is a duration about secrets, not one.)
        if (k.contains("SECRET") || k.contains("KEY") || k.ends_with("TOKEN")) && !k.ends_with("_GRACE") {
            let by_arn = k.ends_with("_ARN");
            for v in branches(v) {
                let ok = match v {
                    Value::String(s) => !by_arn && s.starts_with("{{resolve:secretsmanager:"),
                    other => derived_from(other)
                        .is_some_and(|p| if by_arn { arn_params.contains(&p) } else { secret_params.contains(&p) }),
                };
                assert!(ok, "{k} is not a NoEcho parameter, a secret's ARN nor a Secrets Manager reference: {v:?}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}: each secret plain or by ARN");
}

#[test]
fn the_table_is_encrypted_recoverable_and_expires_old_states() {
    let t = template();
    let tables = of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1);
    let (name, table) = &tables[0];
    let p = &table["Properties"];
    assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true), "{name}: encryption with KMS");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true),
        "{name}: PITR"
    );
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"].as_bool(), Some(true));
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"), "tokens outlive a stack deletion by mistake");
}

#[test]
fn the_http_api_is_throttled() {
    let t = template();
    let stages = of_type(&t, "AWS::ApiGatewayV2::Stage");
    assert!(!stages.is_empty());
    for (name, s) in stages {
        let d = &s["Properties"]["DefaultRouteSettings"];
        for k in ["ThrottlingBurstLimit", "ThrottlingRateLimit"] {
            let v = d[k].as_f64().unwrap_or_else(|| panic!("{name}: {k} is not set"));
            assert!(v > 0.0 && v <= 10_000.0, "{name}: {k} = {v}");
        }
    }
}

/// The DynamoDB statements of a function's role.
fn dynamodb_statements<'a>(t: &'a Value, function: &str) -> Vec<&'a Value> {
    let role = derived_from(&t["Resources"][function]["Properties"]["Role"]).unwrap();
    policy_statements(t)
        .into_iter()
        .filter(|(at, _)| at.starts_with(&format!("{role}/")))
        .map(|(_, s)| s)
        .filter(|s| list(&s["Action"]).iter().any(|a| a.as_str().is_some_and(|a| a.starts_with("dynamodb:"))))
        .collect()
}

fn leading_keys(s: &Value) -> BTreeSet<String> {
    list(&s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        .into_iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// A table resource is the stack's table or, with `ExistingTableName`, that table (a
/// point-in-time restore): the same actions on the same keys either way.
fn assert_existing_table_branch(resource: &Value) {
    let both = branches(resource);
    assert_eq!(both.len(), 2, "{resource:?}");
    let other = tagged(both[1]).and_then(|(_, v)| v.as_str().map(str::to_owned)).unwrap_or_default();
    assert!(other.contains(":table/${ExistingTableName}"), "{resource:?}");
}

/// The static half of least privilege (the calls themselves are checked in `e2e/iam.rs`): each
/// function's DynamoDB statements are exactly these actions, on the table or one index, each
/// limited to its key prefixes (the table's partition key, or the queried index's).
#[test]
fn each_function_calls_only_its_dynamodb_actions_on_its_own_keys() {
    let t = template();
    let statements = |function: &str| -> BTreeSet<(String, String, String)> {
        dynamodb_statements(&t, function)
            .into_iter()
            .map(|s| {
                let res = list(&s["Resource"]);
                assert_eq!(res.len(), 1, "{function}: {s:?}");
                assert_existing_table_branch(res[0]);
                let on = match tagged(branches(res[0])[0]) {
                    Some((tag, sub)) if tag == "!Sub" => {
                        sub.as_str().unwrap().strip_prefix("${Table.Arn}/").expect("an index of the table").to_owned()
                    }
                    Some((tag, att)) if tag == "!GetAtt" && att.as_str() == Some("Table.Arn") => "table".to_owned(),
                    other => panic!("{function}: resource {other:?}"),
                };
                let mut actions: Vec<String> =
                    list(&s["Action"]).iter().map(|a| a.as_str().unwrap().to_owned()).collect();
                actions.sort();
                let keys = leading_keys(s);
                assert!(!keys.is_empty(), "{function}: a statement not limited by key: {s:?}");
                (actions.join(" "), on, keys.into_iter().collect::<Vec<_>>().join(" "))
            })
            .collect()
    };
    let expect = |rows: &[(&str, &str, &str)]| -> BTreeSet<(String, String, String)> {
        rows.iter().map(|(a, o, k)| (a.to_string(), o.to_string(), k.to_string())).collect()
    };
    assert_eq!(
        statements("OAuthFunction"),
        expect(&[
            (
                "dynamodb:DeleteItem dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem",
                "table",
                "SESSION#* STATE#* TDOC#* WS#*"
            ),
            ("dynamodb:GetItem dynamodb:UpdateItem", "table", "ITEM#*"),
            ("dynamodb:DeleteItem dynamodb:GetItem dynamodb:PutItem", "table", "SWEEP#*"),
            ("dynamodb:Query", "table", "WS#*"),
            ("dynamodb:Query", "index/workspace_items", "ITEMS#*"),
            ("dynamodb:Query", "index/pending", "DELETED GIVEN_UP LINKED#* PENDING WORKSPACE"),
        ])
    );
    assert_eq!(
        statements("TapdWebhookFunction"),
        expect(&[
            (
                "dynamodb:BatchGetItem dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem",
                "table",
                "APP#* BUDGET#* ITEM#* SWEEP#* TDOC#* WS#*"
            ),
            ("dynamodb:Query", "index/pending", "DIGEST FOLLOW PENDING SWEEP WORKSPACE"),
        ])
    );
    // The index names the roles grant are the ones the code queries.
    assert_eq!(shared::store::items::LISTS_INDEX, "pending");
    assert_eq!(shared::store::items::WORKSPACE_ITEMS_INDEX, "workspace_items");
}

#[test]
fn each_route_has_its_throttle_and_access_logs_carry_no_query() {
    let t = template();
    for (name, stage) in of_type(&t, "AWS::ApiGatewayV2::Stage") {
        let p = &stage["Properties"];
        let routes: BTreeSet<String> = of_type(&t, "AWS::ApiGatewayV2::Route")
            .into_iter()
            .map(|(_, r)| r["Properties"]["RouteKey"].as_str().unwrap().to_owned())
            .collect();
        assert!(routes.contains("POST /oauth/tdoc/confirm") && routes.contains("POST /webhooks/tapd"), "{routes:?}");
        let settings = p["RouteSettings"].as_mapping().unwrap_or_else(|| panic!("{name}: no RouteSettings"));
        for route in &routes {
            let s = settings.get(route.as_str()).unwrap_or_else(|| panic!("{name}: no throttle for {route}"));
            for k in ["ThrottlingBurstLimit", "ThrottlingRateLimit"] {
                let (tag, param) = tagged(&s[k]).unwrap_or_else(|| panic!("{route}: {k}"));
                assert_eq!(tag, "!Ref");
                let prefix = if route.starts_with("POST /webhooks") { "Webhook" } else { "OAuth" };
                assert!(param.as_str().unwrap().starts_with(prefix), "{route}: {k} is the {prefix} throttle");
            }
        }
        let logs = &p["AccessLogSettings"];
        let format = logs["Format"].as_str().unwrap_or_else(|| panic!("{name}: no access log format"));
        // JSON once API Gateway substitutes the one unquoted (numeric) variable.
        let _: serde_json::Value =
            serde_json::from_str(&format.replace("$context.status", "200")).expect("JSON access logs");
        for leak in ["requestUri", "querystring", "queryString", "rawQuery"] {
            assert!(!format.contains(leak), "{name}: access logs carry {leak}");
        }
        let group = derived_from(&logs["DestinationArn"]).unwrap();
        assert!(!t["Resources"][group.as_str()]["Properties"]["RetentionInDays"].is_null(), "{group}: retention");
    }
}

#[test]
fn alarms_watch_the_webhook_route_and_rebinds() {
    let t = template();
    let four = alarm_on(&t, "AWS/ApiGateway", "4xx");
    assert!(
        four.iter().any(|(_, a)| list(&a["Properties"]["Dimensions"])
            .iter()
            .any(|d| d["Name"].as_str() == Some("Route") && d["Value"].as_str() == Some("POST /webhooks/tapd"))),
        "no 4xx alarm on the webhook route"
    );
    let filters = of_type(&t, "AWS::Logs::MetricFilter");
    let throttled = filters
        .iter()
        .find(|(_, f)| {
            f["Properties"]["FilterPattern"].as_str().is_some_and(|p| p.contains("429") && p.contains("/webhooks/tapd"))
        })
        .expect("a metric of the webhook route's 429s");
    let metric = throttled.1["Properties"]["MetricTransformations"][0]["MetricName"].as_str().unwrap();
    assert_eq!(alarm_on(&t, "TapdDocLinks", metric).len(), 1, "an alarm on {metric}");
    let rebinds = alarm_on(&t, "TapdDocLinks", shared::connect::REBINDS);
    assert_eq!(rebinds.len(), 1);
    assert_eq!(dimension_of(rebinds[0].1, "FunctionName").as_deref(), Some("OAuthFunction"));
}

fn alarm_on<'a>(t: &'a Value, namespace: &str, metric: &str) -> Vec<(String, &'a Value)> {
    of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            a["Properties"]["Namespace"].as_str() == Some(namespace)
                && a["Properties"]["MetricName"].as_str() == Some(metric)
        })
        .collect()
}

fn dimension_of(alarm: &Value, name: &str) -> Option<String> {
    list(&alarm["Properties"]["Dimensions"])
        .into_iter()
        .find(|d| d["Name"].as_str() == Some(name))
        .and_then(|d| derived_from(&d["Value"]))
}

#[test]
fn alarms_watch_errors_and_events_left_pending() {
    let t = template();
    let errors = alarm_on(&t, "AWS/Lambda", "Errors");
    for (name, _) in of_type(&t, "AWS::Serverless::Function") {
        assert!(
            errors.iter().any(|(_, a)| dimension_of(a, "FunctionName").as_deref() == Some(name.as_str())),
            "no Errors alarm on {name}"
        );
    }
    // The scheduled retry's EMF metrics (names shared with the code that prints them).
    let webhook = of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| {
            list(
                &f["Properties"]["Events"]
                    .as_mapping()
                    .map(|m| Value::Sequence(m.values().cloned().collect()))
                    .unwrap_or(Value::Null),
            )
            .iter()
            .any(|e| e["Type"].as_str() == Some("Schedule"))
        })
        .map(|(n, _)| n)
        .expect("a scheduled function");
    for metric in [metrics::OLDEST_PENDING_AGE, metrics::GIVEN_UP_EVENTS] {
        let alarms = alarm_on(&t, metrics::NAMESPACE, metric);
        assert_eq!(alarms.len(), 1, "an alarm on {}/{metric}", metrics::NAMESPACE);
        let a = &alarms[0].1;
        assert_eq!(dimension_of(a, metrics::DIMENSION).as_deref(), Some(webhook.as_str()), "{metric}");
        assert!(a["Properties"]["Threshold"].as_f64().is_some_and(|x| x > 0.0), "{metric}");
        assert_eq!(a["Properties"]["ComparisonOperator"].as_str(), Some("GreaterThanOrEqualToThreshold"));
    }
    let age = &alarm_on(&t, metrics::NAMESPACE, metrics::OLDEST_PENDING_AGE)[0].1["Properties"];
    assert_eq!(age["Statistic"].as_str(), Some("Maximum"));
    assert!(age["Threshold"].as_f64().unwrap() <= 24.0 * 3600.0, "pending for a day goes unnoticed");
}

/// Runs a tool from the project venv on `template.yaml` and fails with what it printed.
fn venv_tool_passes(tool: &str, args: &[&str]) {
    let root = harness::workspace_root();
    let bin = root.join(".venv/bin").join(tool);
    assert!(bin.is_file(), "{} is missing: run `make venv` (make test does)", bin.display());
    let out = std::process::Command::new(bin)
        .args(args)
        .current_dir(&root)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("SAM_CLI_TELEMETRY", "0")
        // The SAM CLI keeps its state here instead of ~/.aws-sam: every cache under .local/.
        .env("__SAM_CLI_APP_DIR", root.join(".local/sam"))
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cfn_lint_passes() {
    venv_tool_passes("cfn-lint", &["template.yaml"]);
}

/// The SAM translator catches what cfn-lint's schema does not (an alias name, a deployment
/// preference): `sam validate` runs it; `--lint` is what `make deploy` checks first.
#[test]
fn sam_validate_passes() {
    venv_tool_passes("sam", &["validate", "--template", "template.yaml", "--region", "us-east-1"]);
    venv_tool_passes("sam", &["validate", "--template", "template.yaml", "--lint"]);
}

/// Secrets by ARN need the extension's layer; a deployer should not have to look its ARN up.
#[test]
fn secrets_by_arn_get_the_regions_extension_layer() {
    let t = template();
    let map = t["Mappings"]["SecretsExtensionArm64"].as_mapping().expect("the extension's map");
    for region in ["us-east-1", "eu-central-1", "ap-southeast-1", "ap-east-1", "cn-north-1", "cn-northwest-1"] {
        assert!(map.contains_key(region), "{region} is missing from the extension's map");
    }
    for (region, entry) in map {
        let region = region.as_str().unwrap();
        let arn = entry["Arn"].as_str().unwrap();
        let partition = match region {
            r if r.starts_with("cn-") => "aws-cn",
            r if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        };
        let parts: Vec<&str> = arn.split(':').collect();
        assert_eq!(parts.len(), 8, "{arn}");
        assert_eq!((parts[0], parts[1], parts[2], parts[3]), ("arn", partition, "lambda", region), "{arn}");
        assert!(parts[4].len() == 12 && parts[4].bytes().all(|b| b.is_ascii_digit()), "{arn}");
        assert_eq!(parts[6], "AWS-Parameters-and-Secrets-Lambda-Extension-Arm64", "the arm64 layer: {arn}");
        assert!(parts[7].parse::<u32>().is_ok(), "a pinned version: {arn}");
    }
    // Taken only when some secret comes by ARN; the parameter overrides the map.
    let layers = &t["Globals"]["Function"]["Layers"];
    let (tag, inner) = tagged(layers).expect("!If");
    assert_eq!(tag, "!If");
    assert_eq!(inner[0].as_str(), Some("WebhookReadsSecrets"));
    let chosen = branches(&inner[1][0]);
    assert_eq!(chosen.len(), 2, "{chosen:?}");
    assert_eq!(
        tagged(chosen[0]).map(|(t, v)| (t, v.as_str().map(str::to_owned))),
        Some(("!Ref".into(), Some("ParametersSecretsExtensionLayerArn".into())))
    );
    let (tag, find) = tagged(chosen[1]).expect("!FindInMap");
    assert_eq!(tag, "!FindInMap");
    assert_eq!(find[0].as_str(), Some("SecretsExtensionArm64"));
    let transforms = list(&t["Transform"]).iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        transforms,
        ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"],
        "FindInMap's DefaultValue needs it"
    );
}

/// A deploy shifts traffic through each function's alias as `DeploymentType` says and rolls back
/// on its errors alarm: so every route and the schedule must call the alias, not the function.
#[test]
fn routes_and_the_schedule_call_the_alias_that_deployments_shift() {
    let t = template();
    for (function, alarm) in [("OAuthFunction", "OAuthErrorsAlarm"), ("TapdWebhookFunction", "TapdWebhookErrorsAlarm")]
    {
        let p = &t["Resources"][function]["Properties"];
        assert_eq!(p["AutoPublishAlias"].as_str(), Some("live"), "{function}");
        let pref = &p["DeploymentPreference"];
        assert_eq!(
            tagged(&pref["Type"]).map(|(tag, v)| (tag, v.as_str().map(str::to_owned))),
            Some(("!Ref".into(), Some("DeploymentType".into()))),
            "{function}"
        );
        let alarms: Vec<_> = list(&pref["Alarms"])
            .into_iter()
            .filter_map(|a| tagged(a).and_then(|(_, v)| v.as_str().map(str::to_owned)))
            .collect();
        assert_eq!(alarms, [alarm], "{function} rolls back on its errors alarm");
    }
    let alias_of =
        |v: &Value| tagged(v).and_then(|(tag, v)| (tag == "!Ref").then(|| v.as_str().map(str::to_owned)).flatten());
    for (name, r) in of_type(&t, "AWS::ApiGatewayV2::Integration") {
        let uri = alias_of(&r["Properties"]["IntegrationUri"]).unwrap_or_default();
        assert!(uri.ends_with("Function.Alias"), "{name} calls {uri:?}, not an alias");
    }
    let permissions = of_type(&t, "AWS::Lambda::Permission");
    assert!(!permissions.is_empty());
    for (name, r) in permissions {
        let target = alias_of(&r["Properties"]["FunctionName"]).unwrap_or_default();
        assert!(target.ends_with("Function.Alias"), "{name} allows {target:?}, not the alias");
    }
    assert_eq!(t["Parameters"]["DeploymentType"]["Default"].as_str(), Some("AllAtOnce"));
}

/// Where a deployment is reached, resolved every way (`DomainName` empty or set, `PublicBaseUrl`
/// empty or set): every function's `PUBLIC_BASE_URL` and every output naming a URL use the same
/// base (`PublicBaseUrl`, else `https://DomainName`, else the API's execute-api URL), so the
/// redirect URIs the functions send and the ones the outputs print to register agree.
#[test]
fn every_function_and_output_uses_the_custom_domain_when_there_is_one() {
    use harness::iam::{Deployment, Template};
    let t = Template::load();
    let proxy = "https://docs-proxy.example.com/tapd";
    for (domain, public) in [("", ""), ("tapd-docs.example.com", ""), ("", proxy), ("tapd-docs.example.com", proxy)] {
        let mut d = Deployment::new("t").with("DomainName", domain).with("PublicBaseUrl", public);
        if !domain.is_empty() {
            d = d.with("CertificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/abc");
        }
        let r = t.resolve(&d);
        let base = match (domain, public) {
            (_, p) if !p.is_empty() => p.to_owned(),
            ("", _) => format!("https://{}.execute-api.us-east-1.amazonaws.com", d.api_id),
            (host, _) => format!("https://{host}"),
        };
        let at = format!("DomainName={domain:?} PublicBaseUrl={public:?}");
        let functions = r.resources_of("AWS::Serverless::Function");
        assert_eq!(functions.len(), 2, "{at}");
        for f in &functions {
            assert_eq!(r.function_env(f).get("PUBLIC_BASE_URL"), Some(&base), "{at}: {f}");
        }
        let outputs = r.outputs();
        for (name, path) in [
            ("ApiUrl", ""),
            ("TapdCallbackUrl", "/oauth/tapd/callback"),
            ("TdocCallbackUrl", "/oauth/tdoc/callback"),
            ("WebhookUrl", "/webhooks/tapd"),
        ] {
            assert_eq!(outputs.get(name), Some(&format!("{base}{path}")), "{at}: {name}");
        }
        for (name, value) in &outputs {
            if value.contains("://") {
                assert!(value.starts_with(&base), "{at}: output {name} = {value} is not under {base}");
            }
        }
        assert_eq!(outputs.contains_key("ApiDomainTarget"), !domain.is_empty(), "{at}");
        assert_eq!(r.exists("ApiDomain") && r.exists("ApiDomainMapping"), !domain.is_empty(), "{at}");
    }
}

/// E-mail notices: only tapd-webhook may send, only with a sender named, only from it, on
/// its identity (the address or its domain) in the stack's region or the one named.
#[test]
fn only_tapd_webhook_sends_e_mail_and_only_from_the_named_sender() {
    use harness::iam::{Deployment, Request, Template};
    let t = Template::load();
    let send = |region: &str, identity: &str, from: &str| {
        let mut r = Request::new("ses:SendEmail", &format!("arn:aws:ses:{region}:123456789012:identity/{identity}"));
        r.context.insert("ses:FromAddress".into(), vec![from.into()]);
        r
    };
    let from = "noreply@tapd-docs.example.com";
    let d = Deployment::new("t").with("NotifyEmailFrom", from);
    let r = t.resolve(&d);
    let (hook, oauth) = (r.policy_of("TapdWebhookFunction"), r.policy_of("OAuthFunction"));
    assert!(hook.allows(&send("us-east-1", from, from)).is_ok());
    assert!(hook.allows(&send("us-east-1", "tapd-docs.example.com", from)).is_ok(), "a verified domain");
    assert!(hook.allows(&send("us-east-1", from, "other@tapd-docs.example.com")).is_err(), "another sender");
    assert!(hook.allows(&send("us-east-1", "evil.example.com", "x@evil.example.com")).is_err());
    assert!(hook.allows(&send("eu-west-1", from, from)).is_err(), "another region's identity");
    assert!(oauth.allows(&send("us-east-1", from, from)).is_err(), "the console sends nothing");
    let mut other = Request::new("ses:SendRawEmail", &format!("arn:aws:ses:us-east-1:123456789012:identity/{from}"));
    other.context.insert("ses:FromAddress".into(), vec![from.into()]);
    assert!(hook.allows(&other).is_err(), "SendEmail only");
    // SES in another region.
    let d = Deployment::new("t").with("NotifyEmailFrom", from).with("NotifyEmailRegion", "ap-southeast-1");
    let hook = t.resolve(&d).policy_of("TapdWebhookFunction");
    assert!(hook.allows(&send("ap-southeast-1", from, from)).is_ok());
    assert!(hook.allows(&send("us-east-1", from, from)).is_err());
    // No sender: no e-mail at all.
    let hook = t.resolve(&Deployment::new("t")).policy_of("TapdWebhookFunction");
    assert!(hook.allows(&send("us-east-1", from, from)).is_err());
    assert_eq!(
        t.resolve(&Deployment::new("t"))
            .function_env("TapdWebhookFunction")
            .get("NOTIFY_EMAIL_FROM")
            .map(String::as_str),
        Some("")
    );
}
