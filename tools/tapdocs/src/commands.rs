//! The commands: each reads or changes the table through the store, then prints a table
//! (or, with `--json`, one JSON document).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};

use serde_json::{Value, json};
use shared::config::{DocType, FolderLayout};
use shared::ids::{ItemKind, WorkspaceId};
use shared::ops::{self, Retried};
use shared::store::settings::intro_list;
use shared::store::table::WorkspaceView;
use shared::store::{Account, Events, ItemKey, PermissionSetting, SweepCursor, WorkspaceSettings};
use shared::store::{ItemStatus, ItemView};
use shared::time::{now_millis, parse_tapd_date, tapd_time};

use crate::target::{Connected, Keys, connect, interactive};
use crate::view::{age, print_json, progress, short, table, when};
use crate::{Cli, Command, Failure, WorkspaceCommand};

/// What neither provider offers; said wherever tokens are removed.
const NO_REVOKE: &str = "Not revoked at the providers: neither TAPD nor Tencent Docs documents a token \
                         revocation endpoint. The stored tokens are deleted; to end the authorization at \
                         the providers too, remove the app in TAPD (company settings, apps) and in the \
                         Tencent Docs account's authorized apps.";

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    let show_progress = !json && interactive();
    match cli.command {
        Command::Status => {
            let c = connect(&cli.target, Keys::Unused).await?;
            status(&c, json, show_progress).await
        }
        Command::Items { which, workspace, limit, after } => {
            let ws = workspace.as_deref().map(parse_ws).transpose()?;
            let c = connect(&cli.target, Keys::Unused).await?;
            let paged = match (&which, &ws) {
                (w, Some(ws)) if w.linked => Some((ws, Some(ops::ItemState::Linked))),
                (w, Some(ws)) if w.deleted => Some((ws, Some(ops::ItemState::Deleted))),
                (w, Some(ws)) if w.all => Some((ws, None)),
                _ => None,
            };
            if let Some((ws, state)) = paged {
                return items_page(&c, ws, state, after.as_deref(), limit, json).await;
            }
            let status = if which.given_up { ItemStatus::GivenUp } else { ItemStatus::Pending };
            items(&c, status, ws.as_ref(), limit, json, show_progress).await
        }
        Command::Redrive { items, given_up, workspace } => {
            let ws = workspace.as_deref().map(parse_ws).transpose()?;
            let keys = items.iter().map(|i| parse_item(i)).collect::<Result<Vec<_>, _>>()?;
            let c = connect(&cli.target, Keys::Unused).await?;
            if given_up {
                redrive_given_up(&c, ws.as_ref(), json, show_progress).await
            } else {
                redrive(&c, &keys, json).await
            }
        }
        Command::Backfill { workspace, since } => {
            let ws = parse_ws(&workspace)?;
            let since_ms = parse_tapd_date(&since).ok_or_else(|| {
                Failure::usage(format!("--since {since}: not a date")).hint("expected YYYY-MM-DD, e.g. 2026-11-01")
            })?;
            if since_ms > now_millis() {
                return Err(Failure::usage(format!("--since {since} is in the future")));
            }
            let c = connect(&cli.target, Keys::Unused).await?;
            backfill(&c, &ws, since_ms, json).await
        }
        Command::Progress { workspace, watch } => {
            let ws = parse_ws(&workspace)?;
            let c = connect(&cli.target, Keys::Unused).await?;
            show_progress_of(&c, &ws, watch, json).await
        }
        Command::Disconnect { workspace, yes } => {
            let ws = parse_ws(&workspace)?;
            let c = connect(&cli.target, Keys::Unused).await?;
            disconnect(&c, &ws, yes, json).await
        }
        Command::Workspace(WorkspaceCommand::Show { workspace, reveal }) => {
            let ws = parse_ws(&workspace)?;
            let c = connect(&cli.target, if reveal { Keys::Needed } else { Keys::Unused }).await?;
            workspace_show(&c, &ws, reveal, json).await
        }
        Command::Workspace(WorkspaceCommand::Pause { workspace }) => {
            let c = connect(&cli.target, Keys::Unused).await?;
            let ws = parse_ws(&workspace)?;
            ops::pause(&c.store, &ws, &operator()).await?;
            if json {
                print_json(&json!({ "workspace": ws.as_str(), "paused": true }));
            } else {
                println!(
                    "linking paused in {ws}: new items are recorded and wait until `tapdocs workspace resume {ws}`"
                );
            }
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Resume { workspace }) => {
            let c = connect(&cli.target, Keys::Unused).await?;
            let ws = parse_ws(&workspace)?;
            let due = ops::resume(&c.store, &ws, &operator()).await?;
            if json {
                print_json(&json!({ "workspace": ws.as_str(), "paused": false, "due_now": due }));
            } else {
                println!("linking resumed in {ws}: {due} waiting item(s) due now");
            }
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Admins { workspace, add, remove }) => {
            let ws = parse_ws(&workspace)?;
            let c = connect(&cli.target, Keys::Unused).await?;
            workspace_admins(&c, &ws, &add, &remove, json).await
        }
        Command::Workspace(WorkspaceCommand::Notify { workspace, url, email, off }) => {
            use shared::notify::{Destination, EmailAddress, Robot};
            let ws = parse_ws(&workspace)?;
            let to = match (url, email, off) {
                (Some(url), _, _) => Some(Destination::Robot(
                    Robot::parse(&url, &notify_config()).map_err(|e| Failure::usage(format!("--url: {e}")))?,
                )),
                // The deployment's sender is not known here: the address is taken, and mailed
                // to only where the stack sets NotifyEmailFrom.
                (None, Some(email), _) => Some(Destination::Email(
                    EmailAddress::parse(&email).map_err(|e| Failure::usage(format!("--email: {e}")))?,
                )),
                (None, None, true) => None,
                (None, None, false) => return Err(Failure::usage("give --url URL, --email ADDRESS or --off")),
            };
            let c = connect(&cli.target, Keys::Needed).await?;
            ops::set_notify(&c.store, &ws, to.as_ref(), &operator()).await?;
            let said = match &to {
                Some(Destination::Robot(r)) => format!("to a {} group robot", r.kind()),
                Some(Destination::Email(a)) => {
                    format!("by e-mail to {} (sent where the stack sets NotifyEmailFrom)", a.masked())
                }
                None => "off".to_owned(),
            };
            if json {
                print_json(&json!({ "workspace": ws.as_str(), "notify": said }));
            } else {
                println!("workspace {ws}: notifications {said}");
            }
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::RotateSecret { workspace, grace }) => {
            let ws = parse_ws(&workspace)?;
            let grace = secret_grace(grace)?;
            let c = connect(&cli.target, Keys::Needed).await?;
            rotate_secret(&c, &ws, grace, json).await
        }
        Command::Workspace(WorkspaceCommand::Set {
            workspace,
            folder_layout,
            permission,
            title_template,
            doc_type,
            template,
            language,
            intro_fields,
            events,
            close_out,
            unset,
        }) => {
            let ws = parse_ws(&workspace)?;
            let change = SettingsChange {
                folder_layout,
                permission,
                title_template,
                doc_type,
                template,
                language,
                intro_fields,
                events,
                close_out,
                unset,
            };
            // Checked before the table is touched.
            change.apply(WorkspaceSettings::default())?;
            let c = connect(&cli.target, Keys::Unused).await?;
            workspace_set(&c, &ws, change, json).await
        }
        Command::Migrate => {
            let c = connect(&cli.target, Keys::Unused).await?;
            let added = c.store.index_older_items().await?;
            if json {
                print_json(&json!({ "items_indexed": added }));
            } else {
                println!("{added} item(s) written by earlier versions are now listed in the console");
            }
            Ok(())
        }
        Command::RotateKeys { dry_run } => {
            let c = connect(&cli.target, Keys::Needed).await?;
            rotate_keys(&c, dry_run, json, show_progress).await
        }
        Command::CheckKey { key_file } => {
            let (keys, fingerprint) = key_from_file(&key_file)?;
            let c = connect(&cli.target, Keys::Given(keys)).await?;
            check_key(&c, &fingerprint, json, show_progress).await
        }
    }
}

fn parse_ws(raw: &str) -> Result<WorkspaceId, Failure> {
    WorkspaceId::parse(raw)
        .map_err(|e| Failure::usage(format!("{raw}: {e}")).hint("a TAPD workspace id is a number, e.g. 20000001"))
}

/// `WORKSPACE/KIND/ID` (also `WORKSPACE#KIND#ID`, `ITEM#…` as stored, or with `:`).
fn parse_item(raw: &str) -> Result<ItemKey, Failure> {
    raw.parse().map_err(|e| {
        Failure::usage(format!("{raw}: {e}"))
            .hint("name an item WORKSPACE/KIND/ID, e.g. 20000001/story/1000123 (KIND: story, bug or task)")
    })
}

fn item_name(key: &ItemKey) -> String {
    key.to_string()
}

fn where_line(c: &Connected) -> String {
    match &c.endpoint {
        Some(e) => format!("table {} at {e}", c.table),
        None => format!("table {} in {}", c.table, c.region),
    }
}

fn target_json(c: &Connected) -> Value {
    json!({ "table": c.table, "region": c.region, "endpoint": c.endpoint })
}

fn opt_ms(ms: Option<u64>) -> Value {
    ms.filter(|&m| m > 0).map_or(Value::Null, Value::from)
}

// ---------------------------------------------------------------------------------------------
// status

async fn status(c: &Connected, json: bool, show_progress: bool) -> Result<(), Failure> {
    let bound = c.store.bound_workspaces().await?;
    let counts = c.store.item_counts().await?;
    let names: BTreeSet<WorkspaceId> =
        bound.iter().map(|b| b.workspace.clone()).chain(counts.keys().cloned()).collect();
    let bar = progress(show_progress, Some(names.len() as u64), "reading workspaces");
    let mut views = Vec::new();
    for ws in &names {
        views.push(c.store.workspace_view(ws).await?);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let now = now_millis();
    let pending: u32 = counts.values().map(|c| c.pending).sum();
    let failed: u32 = counts.values().map(|c| c.given_up).sum();
    let oldest = counts.values().filter_map(|c| c.oldest_pending_ms).min();

    if json {
        let workspaces: Vec<Value> = views
            .iter()
            .map(|v| {
                let n = counts.get(&v.workspace).cloned().unwrap_or_default();
                let b = v.binding.as_ref();
                json!({
                    "workspace": v.workspace.as_str(),
                    "connected": b.is_some(),
                    "account": b.map(|b| match &b.account { Account::User(_) => "user", Account::App => "app" }),
                    "open_id": b.and_then(|b| b.open_id()).map(|o| o.as_str()),
                    "nick": b.and_then(|b| b.nick.as_deref()),
                    "connected_at": b.map(|b| b.connected_at),
                    "connected_by_tapd_user": b.and_then(|b| b.connected_by.tapd_user.as_deref()),
                    "needs_reconnect": v.needs_reconnect,
                    "tapd_token": v.has_tapd_token,
                    "tdoc_token": v.has_tdoc_token,
                    "last_sweep_ms": opt_ms(v.sweep.as_ref().map(|s| s.last_complete_ms)),
                    "sweep_since_ms": v.sweep.as_ref().map(|s| s.since_ms),
                    "sweep_under_way": v.sweep.as_ref().is_some_and(under_way),
                    "sweep_progress": v.sweep.as_ref().and_then(|s| s.progress(now_millis())).map(|p| json!({
                        "done": p.done, "left": p.left, "eta_ms": p.eta_ms,
                    })),
                    "pending": n.pending,
                    "given_up": n.given_up,
                    "oldest_pending_since_ms": n.oldest_pending_ms,
                    "attention": attention(v),
                })
            })
            .collect();
        print_json(&json!({
            "target": target_json(c),
            "pending": pending,
            "given_up": failed,
            "oldest_pending_since_ms": oldest,
            "oldest_pending_age_secs": oldest.map(|o| now.saturating_sub(o) / 1000),
            "workspaces": workspaces,
        }));
        return Ok(());
    }

    println!("{}", where_line(c));
    println!(
        "{} connected workspace(s); {pending} item(s) pending{}, {failed} given up",
        bound.len(),
        oldest.map(|o| format!(" (oldest for {})", age(now.saturating_sub(o)))).unwrap_or_default()
    );
    if views.is_empty() {
        println!("No workspace is connected yet (connect one at <PUBLIC_BASE_URL>/oauth/tapd/start).");
        return Ok(());
    }
    let mut t = table(&[
        "Workspace",
        "Account",
        "Connected",
        "Last sweep",
        "Pending",
        "Given up",
        "Oldest pending",
        "Attention",
    ]);
    for v in &views {
        let n = counts.get(&v.workspace).cloned().unwrap_or_default();
        let (account, connected) = match &v.binding {
            None => ("not connected".to_owned(), "-".to_owned()),
            Some(b) => {
                let who = match &b.account {
                    Account::User(o) => match &b.nick {
                        Some(nick) => format!("{nick} ({o})"),
                        None => format!("user {o}"),
                    },
                    Account::App => "the app's account".to_owned(),
                };
                let by = b.connected_by.tapd_user.as_deref().map(|u| format!("\nby {u}")).unwrap_or_default();
                (who, format!("{}{by}", when(Some(b.connected_at * 1000))))
            }
        };
        let sweep = match &v.sweep {
            None => "never".to_owned(),
            Some(s) => {
                let last = if s.last_complete_ms > 0 { when(Some(s.last_complete_ms)) } else { "never".into() };
                match s.progress(now) {
                    Some(p) if under_way(s) => format!("{last}\n(a pass under way: {})", p.line()),
                    _ if under_way(s) => format!("{last}\n(a pass under way)"),
                    _ => last,
                }
            }
        };
        t.add_row(vec![
            v.workspace.to_string(),
            account,
            connected,
            sweep,
            n.pending.to_string(),
            n.given_up.to_string(),
            n.oldest_pending_ms.map(|o| age(now.saturating_sub(o))).unwrap_or_else(|| "-".into()),
            attention(v).join("\n"),
        ]);
    }
    println!("{t}");
    println!("Times are Beijing time. `tapdocs items --given-up` lists what was given up and why.");
    Ok(())
}

fn under_way(s: &SweepCursor) -> bool {
    !s.at_pass_start()
}

fn attention(v: &WorkspaceView) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(why) = &v.needs_reconnect {
        out.push(format!("reconnect needed: {}", short(why, 80)));
    }
    if let Some(b) = &v.binding {
        if !v.has_tapd_token {
            out.push("no TAPD token".into());
        }
        if matches!(b.account, Account::User(_)) && !v.has_tdoc_token {
            out.push("no Tencent Docs token".into());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// items

async fn items(
    c: &Connected,
    status: ItemStatus,
    ws: Option<&WorkspaceId>,
    limit: usize,
    json: bool,
    show_progress: bool,
) -> Result<(), Failure> {
    let list = read_items(c, status, ws, show_progress).await?;
    let label = match status {
        ItemStatus::Pending => "pending",
        ItemStatus::GivenUp => "given-up",
    };
    if json {
        let items: Vec<Value> = list.iter().map(item_json).collect();
        print_json(&json!({ "target": target_json(c), "status": label, "count": list.len(), "items": items }));
        return Ok(());
    }
    let scope = ws.map(|w| format!(" in workspace {w}")).unwrap_or_default();
    if list.is_empty() {
        println!("No {label} items{scope} ({}).", where_line(c));
        return Ok(());
    }
    let now = now_millis();
    let mut t = match status {
        ItemStatus::Pending => table(&["Item", "Pending for", "Attempts", "Next try", "Last error", "Doc"]),
        ItemStatus::GivenUp => table(&["Item", "Reason", "Attempts", "First seen", "Doc"]),
    };
    for i in list.iter().take(limit) {
        let r = &i.record;
        let doc = r.stage.doc().map_or_else(|| "-".into(), |d| d.url.clone());
        match status {
            ItemStatus::Pending => {
                let next = match (i.claim_until_ms, i.due_ms) {
                    (Some(until), _) => format!("being worked on (claim until {})", tapd_time(until)),
                    (None, Some(due)) if due <= now => "at the next run".into(),
                    (None, Some(due)) => format!("in {}", age(due - now)),
                    (None, None) => "-".into(),
                };
                t.add_row(vec![
                    item_name(&r.key),
                    age(now.saturating_sub(r.pending_since_ms)),
                    r.attempts.to_string(),
                    next,
                    r.reason.map(|why| short(&why.words(shared::text::Lang::En), 120)).unwrap_or_else(|| "-".into()),
                    doc,
                ]);
            }
            ItemStatus::GivenUp => {
                t.add_row(vec![
                    item_name(&r.key),
                    match &r.stage {
                        shared::store::Stage::GivenUp { reason, .. } => short(
                            &format!(
                                "{} ({})",
                                reason.words(shared::text::Lang::En),
                                r.last_error.as_deref().unwrap_or("no detail")
                            ),
                            160,
                        ),
                        _ => short(r.last_error.as_deref().unwrap_or("unknown"), 160),
                    },
                    r.attempts.to_string(),
                    when(Some(r.first_seen_ms)),
                    doc,
                ]);
            }
        }
    }
    println!("{t}");
    let shown = if list.len() > limit { format!(", the oldest {limit} shown (--limit)") } else { String::new() };
    println!("{} {label} item(s){scope}{shown}.", list.len());
    if status == ItemStatus::GivenUp {
        println!(
            "Retry them with `tapdocs redrive --given-up`{}.",
            ws.map(|w| format!(" --workspace {w}")).unwrap_or_default()
        );
    }
    Ok(())
}

async fn read_items(
    c: &Connected,
    status: ItemStatus,
    ws: Option<&WorkspaceId>,
    show_progress: bool,
) -> Result<Vec<ItemView>, Failure> {
    // Both are lists of unknown length (the queue, the given-up list).
    let bar = progress(show_progress, None, "reading items");
    let list = c
        .store
        .items_with_status(status, ws, |read| {
            if let Some(len) = bar.length()
                && read > len
            {
                bar.set_length(read);
            }
            bar.set_position(read);
        })
        .await?;
    bar.finish_and_clear();
    // Reported on stderr, so --json output keeps its shape.
    if !list.unreadable.is_empty() {
        eprintln!("{} item record(s) could not be read and are not listed:", list.unreadable.len());
        for row in &list.unreadable {
            eprintln!("  {row}");
        }
    }
    Ok(list.items)
}

/// A page of a workspace's items, newest first, as the console pages them; the next page's
/// cursor printed after it.
async fn items_page(
    c: &Connected,
    ws: &WorkspaceId,
    state: Option<ops::ItemState>,
    after: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<(), Failure> {
    let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
    let page = ops::items(&c.store, ws, state, after, limit).await?;
    let unreadable: Vec<&(String, String)> = page.items.iter().filter_map(|r| r.as_ref().err()).collect();
    let records: Vec<&shared::store::ItemRecord> = page.items.iter().filter_map(|r| r.as_ref().ok()).collect();
    if json {
        let items: Vec<Value> = records
            .iter()
            .map(|r| {
                let mut v = item_json(&ItemView { record: (*r).clone(), due_ms: None, claim_until_ms: None });
                v["state"] = json!(ops::ItemState::of(r).as_str());
                v
            })
            .collect();
        print_json(&json!({ "workspace": ws.as_str(), "items": items, "next": page.next }));
    } else {
        let mut t = table(&["Item", "State", "Attempts", "First seen", "Doc"]);
        for r in &records {
            let doc = r.stage.doc().map_or("–".to_owned(), |d| d.url.clone());
            t.add_row(vec![
                item_name(&r.key),
                ops::ItemState::of(r).as_str().to_owned(),
                r.attempts.to_string(),
                tapd_time(r.first_seen_ms),
                doc,
            ]);
        }
        println!("{t}");
        if let Some(next) = &page.next {
            println!("next page: --after {next}");
        }
    }
    for (pk, why) in &unreadable {
        eprintln!("unreadable item record {pk}: {why}");
    }
    Ok(())
}

fn item_json(i: &ItemView) -> Value {
    let r = &i.record;
    let doc = r.stage.doc();
    json!({
        "item": item_name(&r.key),
        "workspace": r.key.workspace.as_str(),
        "kind": r.key.kind.as_str(),
        "id": r.key.id.as_str(),
        "status": r.stage.status(),
        "attempts": r.attempts,
        "first_seen_ms": opt_ms(Some(r.first_seen_ms)),
        "pending_since_ms": opt_ms(Some(r.pending_since_ms)),
        "due_ms": i.due_ms,
        "claim_until_ms": i.claim_until_ms,
        "reason": r.last_error,
        "reason_code": r.reason.map(|why| why.code()),
        "doc_url": doc.map(|d| d.url.as_str()),
        "doc_title": doc.map(|d| d.title.as_str()),
        "deleted": r.deleted,
    })
}

// ---------------------------------------------------------------------------------------------
// redrive

/// How `tapdocs` says what a retry did.
trait Said {
    fn code(&self) -> &'static str;
    fn text(&self) -> String;
}

impl Said for Retried {
    fn code(&self) -> &'static str {
        match self {
            Retried::Rearmed => "redriven",
            Retried::DueNow => "due_now",
            Retried::Busy(_) => "busy",
            Retried::Done => "already_done",
            Retried::Changed(_) => "changed",
            Retried::NotFound => "not_found",
        }
    }

    fn text(&self) -> String {
        match self {
            Retried::Rearmed => "given up → pending: the next scheduled run retries it".into(),
            Retried::DueNow => "pending, now due: the next scheduled run retries it first".into(),
            Retried::Busy(until) => format!("being worked on right now (claim until {})", tapd_time(*until)),
            Retried::Done => "already linked: nothing to retry".into(),
            Retried::Changed(now) => format!("changed meanwhile, now {now}: left alone"),
            Retried::NotFound => "not in the table (never delivered, or another table?)".into(),
        }
    }
}

async fn redrive(c: &Connected, keys: &[ItemKey], json: bool) -> Result<(), Failure> {
    let mut results = Vec::new();
    for key in keys {
        // Through the operations layer: the item's history and the workspace's audit name the operator.
        results.push((key, ops::retry(&c.store, &key.workspace, key.kind, &key.id, &operator()).await?));
    }
    report_redrive(c, &results, json)
}

async fn redrive_given_up(
    c: &Connected,
    ws: Option<&WorkspaceId>,
    json: bool,
    show_progress: bool,
) -> Result<(), Failure> {
    let failed = read_items(c, ItemStatus::GivenUp, ws, show_progress).await?;
    let bar = progress(show_progress, Some(failed.len() as u64), "redriving");
    let mut results = Vec::new();
    for item in &failed {
        let key = item.key();
        let r = match ops::retry(&c.store, &key.workspace, key.kind, &key.id, &operator()).await? {
            // Listed as given up a moment ago, now waiting: someone else retried it.
            Retried::DueNow | Retried::Busy(_) => Retried::Changed("pending".into()),
            other => other,
        };
        results.push((item.key(), r));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !json && results.is_empty() {
        println!(
            "No given-up items{} ({}): nothing to redrive.",
            ws.map(|w| format!(" in workspace {w}")).unwrap_or_default(),
            where_line(c)
        );
        return Ok(());
    }
    report_redrive(c, &results, json)
}

fn report_redrive(c: &Connected, results: &[(&ItemKey, Retried)], json: bool) -> Result<(), Failure> {
    let redriven = results.iter().filter(|(_, r)| matches!(r, Retried::Rearmed | Retried::DueNow)).count();
    let missing = results.iter().filter(|(_, r)| matches!(r, Retried::NotFound)).count();
    if json {
        let items: Vec<Value> = results
            .iter()
            .map(|(k, r)| json!({ "item": item_name(k), "result": r.code(), "detail": r.text() }))
            .collect();
        print_json(&json!({ "target": target_json(c), "redriven": redriven, "items": items }));
    } else {
        let mut t = table(&["Item", "Result"]);
        for (k, r) in results {
            t.add_row(vec![item_name(k), r.text()]);
        }
        println!("{t}");
        println!("{redriven} of {} item(s) will be retried (the schedule runs every 5 minutes).", results.len());
    }
    if missing > 0 {
        return Err(Failure::new(Failure::NOT_FOUND, format!("{missing} item(s) not found in {}", where_line(c))));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// backfill

async fn backfill(c: &Connected, ws: &WorkspaceId, since_ms: u64, json: bool) -> Result<(), Failure> {
    if c.store.binding(ws).await?.is_none() {
        return Err(Failure::new(Failure::NOT_FOUND, format!("workspace {ws} is not connected ({})", where_line(c)))
            .hint("only connected workspaces are swept; `tapdocs status` lists them"));
    }
    // Through the operations layer, as the console's: audited under the operator's name.
    let cursor = ops::backfill(&c.store, ws, since_ms, &operator()).await?;
    if json {
        print_json(&json!({
            "target": target_json(c),
            "workspace": ws.as_str(),
            "requested_since_ms": since_ms,
            "since_ms": cursor.since_ms,
        }));
        return Ok(());
    }
    println!(
        "Workspace {ws}: the next sweep lists the items created since {} (Beijing time)",
        tapd_time(cursor.since_ms)
    );
    if cursor.since_ms < since_ms {
        println!("(an earlier date than asked: the sweep under way already reached back that far)");
    }
    println!(
        "and links each one that has no doc. It starts at the next scheduled run (every 5 minutes) and \
         goes as fast as the TAPD request budget allows; `tapdocs status` shows when it completes."
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// progress

async fn show_progress_of(c: &Connected, ws: &WorkspaceId, watch: bool, json: bool) -> Result<(), Failure> {
    use std::io::IsTerminal;
    let terminal = !json && std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    loop {
        let cursor = c.store.sweep_cursor(ws).await?;
        let p = cursor.as_ref().and_then(|s| s.progress(now_millis()));
        if json {
            print_json(&json!({
                "target": target_json(c),
                "workspace": ws.as_str(),
                "under_way": p.is_some(),
                "done": p.map(|p| p.done),
                "left": p.and_then(|p| p.left),
                "eta_ms": p.and_then(|p| p.eta_ms),
            }));
            return Ok(());
        }
        let Some(p) = p else {
            if let Some(bar) = bar.take() {
                bar.finish_with_message(format!("Workspace {ws}: done"));
            }
            println!("Workspace {ws}: no sweep or backfill under way");
            return Ok(());
        };
        match (&bar, terminal) {
            (None, true) => {
                let b = crate::view::progress(true, p.left.map(|l| p.done + l), &format!("Workspace {ws}"));
                b.set_position(p.done);
                bar = Some(b);
            }
            (Some(b), _) => {
                if let Some(left) = p.left {
                    b.set_length(p.done + left);
                }
                b.set_position(p.done);
                b.set_message(format!("Workspace {ws}: {}", p.line()));
            }
            (None, false) => println!("Workspace {ws}: {}", p.line()),
        }
        if let (Some(b), true) = (&bar, terminal) {
            b.set_message(format!("Workspace {ws}: {}", p.line()));
        }
        if !watch {
            if let Some(b) = bar.take() {
                b.abandon();
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// disconnect

async fn disconnect(c: &Connected, ws: &WorkspaceId, yes: bool, json: bool) -> Result<(), Failure> {
    let view = c.store.workspace_view(ws).await?;
    if view.binding.is_none() && !view.has_tapd_token && view.sweep.is_none() {
        return Err(Failure::new(Failure::NOT_FOUND, format!("workspace {ws} is not connected ({})", where_line(c)))
            .hint("`tapdocs status` lists the connected workspaces"));
    }
    let account = match view.binding.as_ref().map(|b| &b.account) {
        Some(Account::User(o)) => format!("Tencent Docs account {o}"),
        Some(Account::App) => "the app's Tencent Docs account".into(),
        None => "no Tencent Docs account (half connected)".into(),
    };
    if !yes {
        if !interactive() {
            return Err(Failure::usage(format!("disconnecting workspace {ws} needs confirmation"))
                .hint("pass --yes to disconnect without a question"));
        }
        eprint!("Disconnect workspace {ws} from {account} in {}? Its tokens are deleted. [y/N] ", where_line(c));
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Err(Failure::usage("not confirmed: nothing was changed"));
        }
    }
    let pending = c.store.items_with_status(ItemStatus::Pending, Some(ws), |_| {}).await?.items.len();
    let done = ops::disconnect(&c.store, ws, &operator()).await?;
    if json {
        print_json(&json!({
            "target": target_json(c),
            "workspace": ws.as_str(),
            "binding_deleted": done.binding,
            "tapd_token_deleted": done.tapd_token,
            "tdoc_token_deleted": done.tdoc_token,
            "tdoc_token_kept_for": done.tdoc_token_kept_for.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
            "sweep_cursor_deleted": done.sweep_cursor,
            "webhook_secrets_deleted": done.webhook_secrets,
            "revoked_at_providers": false,
            "revocation": NO_REVOKE,
            "pending_items": pending,
        }));
        return Ok(());
    }
    let yes_no = |b: bool| if b { "deleted" } else { "none stored" };
    println!("Workspace {ws} is disconnected from {account}:");
    println!(
        "  binding             {}",
        if done.binding { "deleted (kept in the workspace's history)" } else { "none stored" }
    );
    println!("  TAPD token          {}", yes_no(done.tapd_token));
    if done.tdoc_token_kept_for.is_empty() {
        println!("  Tencent Docs token  {}", yes_no(done.tdoc_token));
    } else {
        let others: Vec<&str> = done.tdoc_token_kept_for.iter().map(|w| w.as_str()).collect();
        println!("  Tencent Docs token  kept: workspace(s) {} use the same account", others.join(", "));
    }
    println!("  sweep position      {}", yes_no(done.sweep_cursor));
    println!("  webhook secrets     {}", yes_no(done.webhook_secrets));
    if pending > 0 {
        println!(
            "{pending} pending item(s) of the workspace stay pending and are given up at the retry limit \
             unless it is connected again."
        );
    }
    println!("{NO_REVOKE}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rotate-keys

async fn rotate_keys(c: &Connected, dry_run: bool, json: bool, show_progress: bool) -> Result<(), Failure> {
    let bar = progress(show_progress, c.approx_items.filter(|&n| n > 0), "re-encrypting tokens");
    let r = c
        .store
        .reseal_all_tokens(dry_run, |read| {
            if let Some(len) = bar.length()
                && read > len
            {
                bar.set_length(read);
            }
            bar.set_position(read);
        })
        .await?;
    bar.finish_and_clear();
    if json {
        print_json(&json!({
            "target": target_json(c),
            "dry_run": dry_run,
            "tokens": r.seen,
            "resealed": r.resealed,
            "already_current": r.current,
            "changed_meanwhile": r.raced,
            "unreadable": r.unreadable,
        }));
    } else {
        let verb = if dry_run { "would be re-encrypted" } else { "re-encrypted" };
        println!("{}: {} token record(s)", where_line(c), r.seen);
        println!("  {} {verb} under the first key", r.resealed);
        println!("  {} already under it", r.current);
        if r.raced > 0 {
            println!("  {} rewritten meanwhile by the functions (under the first key)", r.raced);
        }
        if r.unreadable.is_empty() {
            if !dry_run {
                println!(
                    "No token is left under an older key: the older keys can be removed from TOKEN_ENCRYPTION_KEY."
                );
            }
        } else {
            println!("  {} no configured key opens (left as they are):", r.unreadable.len());
            for u in &r.unreadable {
                println!("    {u}");
            }
        }
    }
    if !r.unreadable.is_empty() {
        return Err(Failure::new(
            Failure::PARTIAL,
            format!("{} token record(s) could not be decrypted with TOKEN_ENCRYPTION_KEY", r.unreadable.len()),
        )
        .hint("add the key they were written with (after the first), or reconnect those workspaces"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// check-key

/// The key in a file (`-`: stdin), and its fingerprint: the first 16 hex digits of the SHA-256
/// of the text (as `make backup-key` prints it). The key itself is never printed.
fn key_from_file(path: &std::path::Path) -> Result<(shared::crypto::Keyring, String), Failure> {
    use sha2::{Digest, Sha256};
    let name = path.display().to_string();
    let raw = if name == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Failure::usage(format!("cannot read the key from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read {name}: {e}")))?
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Failure::usage(format!("{name} holds no key")));
    }
    let keys = shared::crypto::Keyring::parse(raw).map_err(|e| {
        Failure::usage(format!("{name}: not a token encryption key ({e})")).hint(
            "the file holds the base64 key (32 bytes), decrypted: gpg -d BACKUP.asc | tapdocs check-key --key-file -",
        )
    })?;
    let digest = Sha256::digest(raw.as_bytes());
    let fingerprint: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok((keys, fingerprint))
}

async fn check_key(c: &Connected, fingerprint: &str, json: bool, show_progress: bool) -> Result<(), Failure> {
    let bar = progress(show_progress, c.approx_items.filter(|&n| n > 0), "decrypting tokens");
    // A dry run of the rotation: every token record is decrypted, none is written.
    let r = c.store.reseal_all_tokens(true, |read| bar.set_position(read)).await?;
    bar.finish_and_clear();
    let opened = r.seen.saturating_sub(r.unreadable.len() as u32);
    if json {
        print_json(&json!({
            "target": target_json(c),
            "fingerprint": fingerprint,
            "tokens": r.seen,
            "opened": opened,
            "not_opened": r.unreadable,
        }));
    } else {
        println!("{}: key {fingerprint}: opens {opened} of {} token record(s)", where_line(c), r.seen);
        for u in &r.unreadable {
            println!("  not opened: {u}");
        }
    }
    if r.seen == 0 {
        return Err(Failure::new(Failure::NOT_FOUND, "the table holds no token to check the key against")
            .hint("connect a workspace first; the check needs one stored token"));
    }
    if opened == 0 {
        return Err(Failure::new(Failure::PARTIAL, format!("key {fingerprint} opens none of the table's tokens"))
            .hint("this is not the key the table's tokens were written with"));
    }
    if !r.unreadable.is_empty() {
        return Err(Failure::new(
            Failure::PARTIAL,
            format!("key {fingerprint} opens {opened} of {} token record(s)", r.seen),
        )
        .hint("the others are under another key: a rotation in progress (tapdocs rotate-keys), or keep that key too"));
    }
    if !json {
        println!("The key opens every stored token: the backup is good.");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// workspace show / set

/// What `tapdocs workspace set` was asked to change: the flags as given, checked by
/// [`shared::ops::apply_settings`], as the console's form is.
pub struct SettingsChange {
    folder_layout: Option<String>,
    permission: Option<String>,
    title_template: Option<String>,
    doc_type: Vec<String>,
    template: Vec<String>,
    language: Option<String>,
    intro_fields: Option<String>,
    events: Option<String>,
    close_out: Option<bool>,
    unset: Vec<String>,
}

/// `KIND=VALUE`: the kind checked, the value trimmed and not empty.
fn kind_pair(raw: &str, what: &str) -> Result<(ItemKind, String), Failure> {
    let bad = |why: &str| {
        Failure::usage(format!("--{what} {raw}: {why}")).hint(format!("--{what} KIND=VALUE, KIND story, bug or task"))
    };
    let (kind, value) = raw.split_once('=').ok_or_else(|| bad("not KIND=VALUE"))?;
    let kind =
        ItemKind::parse(&kind.trim().to_ascii_lowercase()).ok_or_else(|| bad("the kind is story, bug or task"))?;
    let value = value.trim();
    if value.is_empty() {
        return Err(bad("no value (use --unset to go back to the deployment's)"));
    }
    Ok((kind, value.to_owned()))
}

impl SettingsChange {
    /// `settings` changed as asked; a usage failure naming the flag for anything invalid.
    fn apply(&self, settings: WorkspaceSettings) -> Result<WorkspaceSettings, Failure> {
        // The shared change takes an empty value as "back to the deployment's": --unset.
        let mut change = ops::SettingsChange::default();
        for name in &self.unset {
            let kind = |k: &str| {
                ItemKind::parse(k)
                    .ok_or_else(|| Failure::usage(format!("--unset {name}: the kind is story, bug or task")))
            };
            match name.split_once('.') {
                None if name == "folder-layout" => change.folder_layout = Some(String::new()),
                None if name == "permission" => change.permission = Some(String::new()),
                None if name == "title-template" => change.title_template = Some(String::new()),
                Some(("doc-type", k)) => change.doc_types.push((kind(k)?, String::new())),
                None if name == "language" => change.language = Some(String::new()),
                None if name == "intro-fields" => change.intro_fields = Some(String::new()),
                None if name == "events" => change.events = Some(String::new()),
                None if name == "close-out" => change.close_out = Some(String::new()),
                Some(("template", k)) => change.templates.push((kind(k)?, String::new())),
                _ => {
                    return Err(Failure::usage(format!("--unset {name}: no such setting")).hint(
                        "one of folder-layout, permission, title-template, language, intro-fields, events, \
                         close-out, doc-type.KIND, template.KIND",
                    ));
                }
            }
        }
        if let Some(t) = &self.title_template
            && t.trim().is_empty()
        {
            return Err(Failure::usage("--title-template is empty").hint("use --unset title-template"));
        }
        change.folder_layout = self.folder_layout.clone().or(change.folder_layout);
        change.permission = self.permission.clone().or(change.permission);
        change.title_template = self.title_template.clone().or(change.title_template);
        change.language = self.language.clone().or(change.language);
        change.intro_fields = self.intro_fields.clone().or(change.intro_fields);
        change.events = self.events.clone().or(change.events);
        change.close_out = self.close_out.map(|on| shared::store::settings::on_off(on).to_owned()).or(change.close_out);
        for raw in &self.doc_type {
            change.doc_types.push(kind_pair(raw, "doc-type")?);
        }
        for raw in &self.template {
            change.templates.push(kind_pair(raw, "template")?);
        }
        ops::apply_settings(settings, &change).map_err(|e| {
            Failure::usage(format!("--{}: {}", e.field.replace('_', "-"), e.reason))
                .hint("see tapdocs workspace set --help")
        })
    }
}

fn settings_json(ws: &WorkspaceId, s: &WorkspaceSettings, folder: Option<&str>) -> Value {
    let by_kind = |m: Vec<(ItemKind, String)>| m.into_iter().map(|(k, v)| (k.as_str(), v)).collect::<BTreeMap<_, _>>();
    json!({
        "workspace": ws.as_str(),
        "folder_layout": s.folder_layout.map(FolderLayout::as_str),
        "permission": s.doc_permission.map(PermissionSetting::as_str),
        "title_template": s.title_template,
        "doc_types": by_kind(s.doc_types.iter().map(|(k, t)| (*k, t.as_str().to_owned())).collect()),
        "templates": by_kind(s.templates.iter().map(|(k, t)| (*k, t.clone())).collect()),
        "language": s.language.map(shared::text::Lang::tag),
        "intro_fields": s.intro_fields.as_deref().map(intro_list),
        "events": s.events.map(Events::to_list),
        "close_out": s.close_out.map_or("on", shared::store::settings::on_off),
        "paused_since": s.paused_since_ms.map(tapd_time),
        "folder_id": folder,
    })
}

fn print_settings(ws: &WorkspaceId, s: &WorkspaceSettings, folder: Option<&str>) {
    let deployment = "(the deployment's)";
    let or = |v: Option<&str>| v.unwrap_or(deployment).to_owned();
    let mut t = table(&["setting", "value"]);
    t.add_row(vec!["folder layout".to_owned(), or(s.folder_layout.map(FolderLayout::as_str))]);
    t.add_row(vec!["permission".to_owned(), or(s.doc_permission.map(PermissionSetting::as_str))]);
    t.add_row(vec!["title template".to_owned(), or(s.title_template.as_deref())]);
    for kind in [ItemKind::Story, ItemKind::Bug, ItemKind::Task] {
        let k = kind.as_str();
        t.add_row(vec![format!("doc type ({k})"), or(s.doc_type(kind).map(DocType::as_str))]);
        t.add_row(vec![format!("template ({k})"), s.template(kind).unwrap_or("(none: a blank doc)").to_owned()]);
    }
    t.add_row(vec!["language".to_owned(), or(s.language.map(shared::text::Lang::tag))]);
    t.add_row(vec!["intro fields".to_owned(), or(s.intro_fields.as_deref().map(intro_list).as_deref())]);
    t.add_row(vec!["events".to_owned(), or(s.events.map(Events::to_list).as_deref())]);
    t.add_row(vec![
        "close-out".to_owned(),
        s.close_out.map_or("on (the default)", shared::store::settings::on_off).to_owned(),
    ]);
    t.add_row(vec![
        "linking".to_owned(),
        s.paused_since_ms.map_or("on".to_owned(), |at| format!("paused since {}", tapd_time(at))),
    ]);
    t.add_row(vec!["folder".to_owned(), folder.unwrap_or("(none made yet)").to_owned()]);
    println!("workspace {ws}");
    println!("{t}");
}

async fn workspace_show(c: &Connected, ws: &WorkspaceId, reveal: bool, json: bool) -> Result<(), Failure> {
    let settings = c.store.workspace_settings(ws).await?;
    let folder = c.store.folder(ws, "ws").await?;
    let now = now_millis();
    let times: Vec<(u64, Option<u64>)> =
        c.store.webhook_secret_times(ws).await?.into_iter().filter(|(_, r)| r.is_none_or(|r| r > now)).collect();
    let values: Vec<String> = if reveal {
        let stored = c.store.webhook_secrets(ws).await?.unwrap_or_default();
        stored.live(now).map(|s| s.value.expose().to_owned()).collect()
    } else {
        Vec::new()
    };
    if json {
        let mut v = settings_json(ws, &settings, folder.as_deref());
        v["webhook_secrets"] = times
            .iter()
            .enumerate()
            .map(|(i, (made, retires))| {
                let mut s = json!({ "created": tapd_time(*made), "retires": retires.map(tapd_time) });
                if let Some(value) = values.get(i) {
                    s["value"] = json!(value);
                }
                s
            })
            .collect();
        print_json(&v);
    } else {
        print_settings(ws, &settings, folder.as_deref());
        let mut t = table(&["webhook secret", "made", "works until"]);
        for (i, (made, retires)) in times.iter().enumerate() {
            let name =
                values.get(i).cloned().unwrap_or_else(|| if retires.is_none() { "current" } else { "retiring" }.into());
            let until =
                retires.map_or("until rotated".to_owned(), |r| format!("{} (in {})", tapd_time(r), age(r - now)));
            t.add_row(vec![name, tapd_time(*made), until]);
        }
        if times.is_empty() {
            println!(
                "no webhook secret: the workspace was not connected since they were introduced (only the app-level secret opens it)"
            );
        } else {
            println!("{t}");
        }
    }
    Ok(())
}

/// The grace a rotation gives the old secret: `--grace`, else WEBHOOK_SECRET_GRACE, else 24 h.
fn secret_grace(flag: Option<String>) -> Result<std::time::Duration, Failure> {
    let raw = flag.or_else(|| std::env::var("WEBHOOK_SECRET_GRACE").ok()).unwrap_or_else(|| "24h".into());
    raw.parse::<shared::config::Span>()
        .map(|s| s.0)
        .map_err(|()| Failure::usage(format!("grace {raw}: not a duration")).hint("e.g. 90s, 30m, 24h, 3d"))
}

async fn rotate_secret(c: &Connected, ws: &WorkspaceId, grace: std::time::Duration, json: bool) -> Result<(), Failure> {
    if c.store.binding(ws).await?.is_none() {
        return Err(Failure::usage(format!("workspace {ws} is not connected"))
            .hint("connect it first: its secret is made then"));
    }
    let (new, stored) = ops::rotate_secret(&c.store, ws, grace, &operator()).await?;
    let retiring = stored.secrets.iter().filter_map(|s| s.retires_ms).max();
    if json {
        print_json(&json!({
            "workspace": ws.as_str(),
            "secret": new.expose(),
            "old_secrets_work_until": retiring.map(tapd_time),
        }));
    } else {
        println!("{}", new.expose());
        eprintln!(
            "the new webhook secret of workspace {ws} (shown once); give it to the workspace's admin for the workspace's \
             webhook in TAPD. {}",
            match retiring {
                Some(r) => format!(
                    "The old one keeps working until {} ({}).",
                    tapd_time(r),
                    age(r.saturating_sub(now_millis()))
                ),
                None => "There was no old one.".to_owned(),
            }
        );
    }
    Ok(())
}

async fn workspace_set(c: &Connected, ws: &WorkspaceId, change: SettingsChange, json: bool) -> Result<(), Failure> {
    let before = c.store.workspace_settings(ws).await?;
    let after = change.apply(before.clone())?;
    let new_templates: Vec<(ItemKind, &str)> = after
        .templates
        .iter()
        .filter(|(k, id)| before.template(**k) != Some(id.as_str()))
        .map(|(k, id)| (*k, id.as_str()))
        .collect();
    let app_account = c.store.binding(ws).await?.is_some_and(|b| b.account == Account::App);
    if app_account && !new_templates.is_empty() {
        check_templates(c, ws, &new_templates).await?;
    }
    ops::put_settings(&c.store, ws, &before, &after, &operator()).await?;
    let folder = c.store.folder(ws, "ws").await?;
    if json {
        let mut v = settings_json(ws, &after, folder.as_deref());
        v["changed"] = json!(after != before);
        print_json(&v);
    } else {
        print_settings(ws, &after, folder.as_deref());
        if after == before {
            eprintln!("nothing changed");
        } else {
            eprintln!("saved in {}: the next new item follows them; existing docs stay as they are", where_line(c));
        }
    }
    Ok(())
}

/// Who runs `tapdocs`, for the audit trail: `TAPDOCS_OPERATOR`, else the OS user.
fn operator() -> String {
    let name = ["TAPDOCS_OPERATOR", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|n| !n.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("tapdocs: {}", name.trim())
}

/// The robots' hosts as the functions accept them (`NOTIFY_WECOM_BASE`, `NOTIFY_DINGTALK_BASE`).
fn notify_config() -> shared::config::NotifyConfig {
    let var = |name: &str, default: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or(default.into());
    shared::config::NotifyConfig {
        wecom_base: var("NOTIFY_WECOM_BASE", "https://qyapi.weixin.qq.com"),
        dingtalk_base: var("NOTIFY_DINGTALK_BASE", "https://oapi.dingtalk.com"),
        digest_after: 0,
        console_base: String::new(),
        email_from: None,
    }
}

/// A TAPD nick or user id as the operator may name it: what TAPD's names are made of.
fn parse_person(raw: &str) -> Result<String, Failure> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Failure::usage(format!("{raw:?} is not a TAPD nick or user id")).hint("e.g. anyechen or 1000142422"))
    }
}

async fn workspace_admins(
    c: &Connected,
    ws: &WorkspaceId,
    add: &[String],
    remove: &[String],
    json: bool,
) -> Result<(), Failure> {
    let (add, remove) = (
        add.iter().map(|a| parse_person(a)).collect::<Result<Vec<_>, _>>()?,
        remove.iter().map(|r| parse_person(r)).collect::<Result<Vec<_>, _>>()?,
    );
    let who = operator();
    for (names, named) in [(&add, true), (&remove, false)] {
        for name in names {
            if c.store.set_named_admin(ws, name, named).await? {
                let what = if named { "named" } else { "un-named" };
                c.store.audit(ws, &who, &format!("{what} {name} as an admin of the workspace")).await?;
            }
        }
    }
    let admins = c.store.named_admins(ws).await?;
    if json {
        print_json(&json!({ "workspace": ws.as_str(), "named_admins": admins }));
    } else if admins.is_empty() {
        println!("workspace {ws}: only its TAPD admins (role 管理员) may connect it and sign in to its console");
    } else {
        println!("workspace {ws}: its TAPD admins (role 管理员), and named by the operator:");
        for a in &admins {
            println!("  {a}");
        }
    }
    Ok(())
}

/// A workspace whose docs are the app account's may take a template only from its own folder
/// (docs/security.md): each one is looked for there as the app account, with the Tencent Docs
/// app the functions use (`TDOC_CLIENT_ID`, `TDOC_CLIENT_SECRET`, `TDOC_BASE`).
async fn check_templates(c: &Connected, ws: &WorkspaceId, templates: &[(ItemKind, &str)]) -> Result<(), Failure> {
    use shared::client_secret::ClientSecret;
    use shared::config::TdocConfig;
    use shared::link::placement::template_in;
    let var = |n: &str| std::env::var(n).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let (Some(client_id), Some(secret)) = (var("TDOC_CLIENT_ID"), var("TDOC_CLIENT_SECRET")) else {
        return Err(Failure::config(format!(
            "{ws}'s docs are the app account's: a template must be a file in the workspace's folder, \
             and Tencent Docs is asked whether it is"
        ))
        .hint("set TDOC_CLIENT_ID and TDOC_CLIENT_SECRET (and TDOC_BASE) as the functions have them"));
    };
    let base = var("TDOC_BASE").unwrap_or_else(|| "https://docs.qq.com".into()).trim_end_matches('/').to_owned();
    let cfg = TdocConfig {
        client_id,
        client_secret: ClientSecret::fixed(shared::Secret::new(secret)),
        base,
        scopes: "all".into(),
    };
    let tdoc = shared::tdoc::TdocClient::new(shared::upstream::http_client(std::time::Duration::from_secs(10)), cfg);
    let unchecked = |e: &dyn std::fmt::Display| {
        Failure::config(format!("the template could not be checked with Tencent Docs ({e}); nothing was saved"))
    };
    let token = tdoc.app_account_token().await.map_err(|e| unchecked(&e))?;
    let folder = c.store.folder(ws, "ws").await?;
    for (kind, id) in templates {
        let (tdoc, token) = (&tdoc, &token);
        let own = template_in(folder.clone(), id, |f, start| async move {
            tdoc.list_folder(token, Some(&f), start).await.map_err(shared::error::LinkError::from)
        });
        match own.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                return Err(Failure::usage(format!(
                    "--template: {}",
                    shared::text::foreign_template(shared::text::Lang::En, *kind, why)
                ))
                .hint("in Tencent Docs, move or copy the file into the workspace's folder, then set it again"));
            }
            Err(e) => return Err(unchecked(&e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_named_as_printed_or_as_stored() {
        for raw in ["20000001/story/1000123", "ITEM#20000001#story#1000123", "20000001:Story:1000123"] {
            let key = parse_item(raw).unwrap();
            assert_eq!(item_name(&key), "20000001/story/1000123");
        }
        for bad in ["20000001/epic/1", "20000001/story", "x/story/1", "20000001/story/1/2"] {
            assert_eq!(parse_item(bad).unwrap_err().code, Failure::USAGE, "{bad}");
        }
    }
}
