//! `sidekey mcp`: the typed operations as Model Context Protocol tools, over stdio, with the
//! official Rust SDK (`rmcp`). The daemon serves the same [`Server`] over Streamable HTTP at
//! `/mcp` (`daemon/mcp_http.rs`), one per request with that request's caller.
//!
//! * **One tool per operation** of [`Operation::all`], named after it with `_` for `.`
//!   (`ms.files.search` → `ms_files_search`). Its input schema is the operation variant's own
//!   schema, derived by `schemars` from the typed arguments (see "What an operation enum needs to
//!   be an MCP tool" in [`crate::ops`]), without the `op` tag and with an optional `account`
//!   whose allowed values are the accounts the policy lets run it. Nothing here names a service.
//! * **`auth_status`** (the accounts and their state, as `sidekey status --json`) and
//!   **`auth_login`** (starts a sign-in that is not waited for, like `login --no-wait`, and returns
//!   the code, the link and the expiry for the person).
//! * **The same [`Backend`] as the CLI**: locally this process owns the vault; with `SIDEKEY_URL`
//!   (client mode, the agent's container) every call goes to the daemon, so the agent's side
//!   holds no vault, no vault key and no refresh token.
//! * **Policy and audit on every call**, by the one guard ([`crate::backend::guard`]): this
//!   process's (caller `mcp uid=N`, the agent's rules) or, in client mode, the daemon's. A
//!   write the policy refuses is not listed at all (the tool list comes from
//!   [`Backend::allowed_ops`], `GET /v1/ops` in client mode); called anyway, it is refused.
//!   Arguments refused here, before any call (an unknown tool, an unknown argument), are
//!   reported to the guard too, so the daemon's audit log has them in client mode.
//! * **Results**: the operation's JSON result as `structuredContent` (an object; a non-object
//!   result is wrapped as `{"result": …}`) and the text a person would read as the text content.
//!   A failure or refusal is a tool error (`isError: true`) whose `structuredContent` is
//!   `{"error": {"exit_code", "reason", "message"}, "exit_meaning"}` — the daemon's error body,
//!   plus what the exit code means — so an agent can tell "sign in again" (3) from "refused by
//!   policy" (6). Only a request that is not a tool call at all is a JSON-RPC error.
//! * **Every line is answered** ([`wire`]): a line that is not JSON gets `-32700 Parse error`,
//!   JSON that is not a request `-32600`, a line over [`wire::MAX_LINE`] is skipped and answered;
//!   the session goes on.

pub mod wire;

use crate::api::{LoginRequest, OpRequest, OpsReply, StatusReply};
use crate::backend::Backend;
use crate::catalog::{Access, Operation};
use crate::error::{Exit, Failure, Reason};
use crate::signin::Mode;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The account tools, besides one tool per operation.
pub const AUTH_STATUS: &str = "auth_status";
pub const AUTH_LOGIN: &str = "auth_login";

/// The MCP tool name of an operation: `ms.files.search` → `ms_files_search`.
pub fn tool_name(op: &str) -> String {
    op.replace('.', "_")
}

/// What an exit code means, for the agent reading a tool error (README, "Exit codes").
pub fn exit_meaning(exit: Exit) -> &'static str {
    match exit {
        Exit::Ok => "ok",
        Exit::Internal => "internal error",
        Exit::Usage => "usage or config error: fix the arguments or the config",
        Exit::NotSignedIn => {
            "not signed in or re-authentication needed: ask the person to sign in (auth_login)"
        }
        Exit::Declined => "sign-in declined or code expired",
        Exit::Provider => "provider or network failure: trying later may help",
        Exit::Policy => "refused by policy: do not retry, ask the person to change the policy",
        Exit::Pending => {
            "waiting for the person's approval on their phone: call the tool again with the same arguments and `approval` set to the id to wait again"
        }
        Exit::Denied => "the person denied this action: do not retry it",
        Exit::ApprovalExpired => {
            "the approval expired before the person decided: call again to send a new request, only if the person still wants it"
        }
    }
}

/// What a failure means for the agent: its exit code's meaning, except for the exit-5 reasons
/// where trying again is wrong (README, "Exit codes").
pub fn failure_meaning(f: &Failure) -> &'static str {
    match f.reason {
        Reason::WrittenUnconfirmed => {
            "the change WAS made, or may have been (the provider refused the token after it, or its answer was lost): do not retry it; check the change where the message says, and ask the person to sign in again (auth_login) if the next call is refused too"
        }
        Reason::DocumentChanged => {
            "the document changed since it was read and nothing was written: read it again and make the revision from what it says now"
        }
        _ => exit_meaning(f.exit),
    }
}

/// Each operation's input schema as the MCP tool takes it, keyed by the operation's name: the
/// variant's schema from `schemars` (the `op` tag removed, the `$defs` it uses carried along).
pub fn input_schemas() -> BTreeMap<String, JsonObject> {
    schemas_of(schemars::schema_for!(Operation).to_value())
}

/// [`input_schemas`] for any schema whose variants pin `op` (tests feed it other enums).
fn schemas_of(root: Value) -> BTreeMap<String, JsonObject> {
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut found = Vec::new();
    variants(&root, &defs, &mut found, 0);
    found
        .into_iter()
        .map(|(name, mut schema)| {
            // A variant that wraps a struct (`Op(Args)`) or flattens one refers to it: its
            // fields become this tool's own, so `additionalProperties` below sees them.
            flatten(&mut schema, &defs, 0);
            if let Some(Value::Object(props)) = schema.get_mut("properties") {
                props.remove("op");
            }
            if let Some(Value::Array(req)) = schema.get_mut("required") {
                req.retain(|r| r != "op");
                if req.is_empty() {
                    schema.remove("required");
                }
            }
            schema.remove("title");
            schema.insert("type".into(), json!("object"));
            schema
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            // serde ignores unknown fields; the tool refuses them (see `operation_of`), and says
            // so here.
            schema.insert("additionalProperties".into(), json!(false));
            let used = used_defs(&Value::Object(schema.clone()), &defs);
            if !used.is_empty() {
                schema.insert("$defs".into(), Value::Object(used));
            }
            (name, schema)
        })
        .collect()
}

/// Merge the properties and `required` of the schemas `schema` refers to at its top level
/// (`$ref`, `allOf`) into its own.
fn flatten(schema: &mut JsonObject, defs: &Map<String, Value>, depth: u8) {
    if depth > 8 {
        return;
    }
    let resolve = |v: Value| match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|t| defs.get(t))
            .cloned()
            .unwrap_or(Value::Null),
        None => v,
    };
    let mut parts = Vec::new();
    if let Some(r) = schema.remove("$ref") {
        parts.push(resolve(json!({ "$ref": r })));
    }
    if let Some(Value::Array(all)) = schema.remove("allOf") {
        parts.extend(all.into_iter().map(resolve));
    }
    for part in parts {
        let Value::Object(mut part) = part else {
            continue;
        };
        flatten(&mut part, defs, depth + 1);
        if let Some(Value::Object(props)) = part.remove("properties") {
            let own = schema
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(own) = own {
                for (k, v) in props {
                    own.entry(k).or_insert(v);
                }
            }
        }
        if let Some(Value::Array(req)) = part.remove("required") {
            let own = schema.entry("required").or_insert_with(|| json!([]));
            if let Value::Array(own) = own {
                for r in req {
                    if !own.contains(&r) {
                        own.push(r);
                    }
                }
            }
        }
    }
}

/// The object schemas below `v` that pin `op` to one name (one per operation variant).
fn variants(v: &Value, defs: &Map<String, Value>, out: &mut Vec<(String, JsonObject)>, depth: u8) {
    if depth > 16 {
        return;
    }
    let Some(obj) = v.as_object() else { return };
    // A variant pins `op` itself, even when it also refers to a struct (`Op(Args)`).
    let op = obj
        .get("properties")
        .and_then(|p| p.get("op"))
        .and_then(|o| {
            o.get("const")
                .or_else(|| o.get("enum").and_then(|e| e.get(0)))
                .and_then(Value::as_str)
        });
    if let Some(name) = op {
        out.push((name.to_string(), obj.clone()));
        return;
    }
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        if let Some(d) = defs.get(target) {
            variants(d, defs, out, depth + 1);
        }
        return;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for sub in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            variants(sub, defs, out, depth + 1);
        }
    }
}

/// The `$defs` entries `schema` refers to, directly or through each other.
fn used_defs(schema: &Value, defs: &Map<String, Value>) -> Map<String, Value> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                {
                    out.push(r.to_string());
                }
                o.iter()
                    .filter(|(k, _)| *k != "$defs")
                    .for_each(|(_, v)| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut todo = Vec::new();
    refs(schema, &mut todo);
    let mut used = Map::new();
    while let Some(name) = todo.pop() {
        if used.contains_key(&name) {
            continue;
        }
        if let Some(d) = defs.get(&name) {
            refs(d, &mut todo);
            used.insert(name, d.clone());
        }
    }
    used
}

/// The MCP server: one per `sidekey mcp` process (one client session).
#[derive(Clone)]
pub struct Server {
    /// Every call goes through the guard: this process's (caller `mcp uid=N`, the agent), or
    /// the daemon's in client mode.
    backend: Arc<Backend>,
    schemas: Arc<BTreeMap<String, JsonObject>>,
}

impl Server {
    pub fn new(backend: Backend) -> Server {
        Server::sharing(backend, Arc::new(input_schemas()))
    }

    /// A server for `backend` with schemas derived once elsewhere: the daemon's `/mcp` makes one
    /// per request (each with that request's caller) and derives the schemas once.
    pub fn sharing(backend: Backend, schemas: Arc<BTreeMap<String, JsonObject>>) -> Server {
        Server {
            backend: Arc::new(backend),
            schemas,
        }
    }

    /// `tools/list`'s answer: [`Server::tools`], a failure as a JSON-RPC error.
    pub async fn list(&self) -> Result<ListToolsResult, McpError> {
        match self.tools().await {
            Ok(tools) => Ok(ListToolsResult::with_all_items(tools)),
            Err(f) => Err(McpError::internal_error(
                format!("{} [reason: {}]", f.message, f.reason),
                Some(json!({"error": f})),
            )),
        }
    }

    /// The tools this client may call: the operations the policy allows on at least one account,
    /// then `auth_status` and `auth_login`.
    pub async fn tools(&self) -> Result<Vec<Tool>, Failure> {
        let grants = self.backend.allowed_ops().await?;
        let mut tools = op_tools(&grants, &self.schemas);
        tools.extend(auth_tools());
        Ok(tools)
    }

    /// Run one tool call to its result: a failure is a tool error, never a protocol error.
    pub async fn call(&self, name: &str, args: JsonObject) -> CallToolResult {
        match self.dispatch(name, args).await {
            Ok((value, text)) => success(value, text),
            Err(f) => failure(&f),
        }
    }

    async fn dispatch(&self, name: &str, args: JsonObject) -> Result<(Value, String), Failure> {
        match name {
            AUTH_STATUS => self.auth_status(args).await,
            AUTH_LOGIN => self.auth_login(args).await,
            _ => self.operate(name, args).await,
        }
    }

    /// Arguments refused here, before any call: the guard's audit log has them too (this
    /// process's, or the daemon's in client mode).
    async fn refuse<T>(&self, op: &str, f: Failure) -> Result<T, Failure> {
        self.backend.refused(op, &f).await;
        Err(f)
    }

    async fn auth_status(&self, args: JsonObject) -> Result<(Value, String), Failure> {
        let account = match take_args::<AccountArg>(AUTH_STATUS, args) {
            Ok(a) => a.account,
            Err(f) => return self.refuse("status", f).await,
        };
        let reply = self.backend.status(account.as_deref()).await?;
        let text = status_text(&reply);
        Ok((to_value(&reply)?, text))
    }

    async fn auth_login(&self, args: JsonObject) -> Result<(Value, String), Failure> {
        let account = match take_args::<LoginArg>(AUTH_LOGIN, args) {
            Ok(a) => a.account,
            Err(f) => return self.refuse("login", f).await,
        };
        let req = LoginRequest {
            account: account.clone(),
            scopes: None,
            resume_only: false,
        };
        let started = self.backend.login(&req, Mode::Handover, false).await?;
        // Locally: the background poller has taken over before this answers (as `login
        // --no-wait` does before it exits). Through the daemon, the daemon polls.
        self.backend.settle(&account).await?;
        let text = match &started.event {
            _ if !started.sent_to.is_empty() => format!(
                "{} auth_status shows when '{account}' is signed in.",
                crate::api::code_sent_note(&account, &started.sent_to)
            ),
            sidekey_notify::Event::Code {
                user_code,
                verification_uri,
                verification_uri_complete,
                expires_at,
                ..
            } => format!(
                "{}Ask the person to open {} and enter the code {user_code} (valid until {expires_at}). The sign-in completes in the background; auth_status shows when '{account}' is signed in.",
                if started.joined {
                    "A sign-in was already in progress. "
                } else {
                    ""
                },
                verification_uri_complete
                    .as_deref()
                    .unwrap_or(verification_uri)
            ),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        Ok((to_value(&started)?, text))
    }

    async fn operate(&self, tool: &str, mut args: JsonObject) -> Result<(Value, String), Failure> {
        // Exports (AWS role keys) are not tools: see `op_tools`.
        let Some(info) = Operation::catalog()
            .find(|i| tool_name(i.name) == tool && i.access != crate::catalog::Access::Export)
        else {
            // Not an operation sidekey knows: refused as the daemon refuses an unknown one.
            let f = Failure::policy(format!(
                "policy: unknown tool '{}'",
                sidekey_flow::response::one_line(tool, 60)
            ));
            return self.refuse("mcp.unknown", f).await;
        };
        let text = |key: &str, args: &mut JsonObject| match args.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Failure::usage(format!("{tool}: `{key}` must be a string"))),
        };
        let parsed = (|| {
            let account = text("account", &mut args)?;
            let approval = text("approval", &mut args)?;
            let wait = match args.remove("wait") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    Failure::usage(format!("{tool}: `wait` must be a number of seconds"))
                })?),
            };
            let mut req = OpRequest::new(account, operation_of(info.name, args, &self.schemas)?);
            req.approval = approval;
            req.wait = wait;
            Ok(req)
        })();
        let req = match parsed {
            Ok(p) => p,
            Err(f) => return self.refuse(info.name, f).await,
        };
        let reply = self.backend.operate(&req).await?;
        Ok((reply.result, reply.text))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountArg {
    #[serde(default)]
    account: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginArg {
    account: String,
}

fn take_args<T: serde::de::DeserializeOwned>(tool: &str, args: JsonObject) -> Result<T, Failure> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| Failure::usage(format!("{tool}: bad arguments: {e}")))
}

/// The typed operation for `op`'s tool arguments: unknown arguments are refused (serde would
/// ignore them), then the variant is read exactly as the daemon reads `POST /v1/op`.
fn operation_of(
    op: &str,
    mut args: JsonObject,
    schemas: &BTreeMap<String, JsonObject>,
) -> Result<Operation, Failure> {
    let tool = tool_name(op);
    let known: Vec<&String> = schemas
        .get(op)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    if let Some(extra) = args.keys().find(|k| !known.contains(k)) {
        return Err(Failure::usage(format!(
            "{tool}: unknown argument '{}' (it takes: {})",
            sidekey_flow::response::one_line(extra, 40),
            known
                .iter()
                .map(|k| k.as_str())
                .chain(["account"])
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    args.insert("op".into(), Value::String(op.to_string()));
    let parsed: Operation = serde_json::from_value(Value::Object(args.clone())).map_err(|_| {
        // The untagged enum's own message says only "did not match any variant": read the
        // service enum directly for the field that is wrong.
        let why = explain(&args);
        Failure::usage(format!("{tool}: bad arguments: {why}"))
    })?;
    if parsed.info().name != op {
        return Err(Failure::internal(format!(
            "{tool} read as {}",
            parsed.info().name
        )));
    }
    Ok(parsed)
}

/// Why `args` is not a valid operation, in serde's words (the untagged [`Operation`] hides
/// them).
fn explain(args: &JsonObject) -> String {
    let v = Value::Object(args.clone());
    Operation::mismatch(&v).unwrap_or_else(|| "the arguments do not match the schema".into())
}

/// The operation tools, from the policy's grants and the derived schemas.
pub fn op_tools(grants: &OpsReply, schemas: &BTreeMap<String, JsonObject>) -> Vec<Tool> {
    grants
        .ops
        .iter()
        .filter(|g| !g.accounts.is_empty())
        .filter_map(|g| {
            let info = Operation::named(&g.op)?;
            let mut schema = schemas.get(&g.op)?.clone();
            if let Some(Value::Object(props)) = schema.get_mut("properties") {
                props.insert(
                    "account".into(),
                    json!({
                        "type": "string",
                        "description": "The account to use (default: the only one configured for this service).",
                        "enum": g.accounts,
                    }),
                );
                if !g.ask.is_empty() {
                    props.insert(
                        "approval".into(),
                        json!({
                            "type": "string",
                            "description": "The approval id an earlier call answered with while it waited for the person (exit 7, pending): pass it with the same arguments to wait for their decision again.",
                        }),
                    );
                    props.insert(
                        "wait".into(),
                        json!({
                            "type": "integer",
                            "minimum": 0,
                            "maximum": crate::approvals::MAX_WAIT.as_secs(),
                            "description": "How long to wait for the person's decision this time, in seconds.",
                        }),
                    );
                }
            }
            let (kind, read_only) = match info.access {
                Access::Read => ("reads only", true),
                Access::Write => ("changes data", false),
                // Credentials (AWS role keys) are for the SDKs' credential_process, never for
                // the model's context: no tool, whatever the policy says.
                Access::Export => return None,
            };
            let asks = if g.ask.is_empty() {
                String::new()
            } else {
                format!(
                    "; on {} it runs only after the person approves this exact call on their phone: the call waits for them, or answers pending with an approval id to pass back",
                    g.ask.join(", ")
                )
            };
            let description = format!(
                "{} (sidekey operation `{}`, {kind}{asks}; CLI: `{}`)",
                info.summary, info.name, info.usage
            );
            Some(
                Tool::new(tool_name(info.name), description, Arc::new(schema)).with_annotations(
                    ToolAnnotations::new()
                        .read_only(read_only)
                        .destructive(!read_only)
                        .open_world(true),
                ),
            )
        })
        .collect()
}

/// `auth_status` and `auth_login`.
fn auth_tools() -> Vec<Tool> {
    let status = json!({
        "type": "object",
        "properties": {
            "account": {"type": "string", "description": "Only this account (default: every account)."}
        },
        "additionalProperties": false
    });
    let login = json!({
        "type": "object",
        "properties": {
            "account": {"type": "string", "description": "The configured account to sign in (see auth_status)."}
        },
        "required": ["account"],
        "additionalProperties": false
    });
    let obj = |v: Value| Arc::new(v.as_object().cloned().unwrap_or_default());
    vec![
        Tool::new(
            AUTH_STATUS,
            "The configured accounts: provider, state (signed_in, signed_out, reauth_required, pending, damaged), user, scopes, expiry. No tokens.",
            obj(status),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).open_world(false)),
        Tool::new(
            AUTH_LOGIN,
            "Start signing an account in (device flow) without waiting: returns the code, the link and its expiry for the person to approve on their phone or computer. The sign-in completes in the background; check auth_status.",
            obj(login),
        )
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .idempotent(true)
                .open_world(true),
        ),
    ]
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure::internal(e.to_string()))
}

fn status_text(reply: &StatusReply) -> String {
    if reply.accounts.is_empty() {
        return "No accounts are configured.".into();
    }
    reply
        .accounts
        .iter()
        .map(|a| {
            let who = a
                .user
                .as_ref()
                .and_then(|u| u.email.clone().or_else(|| u.name.clone()))
                .map(|w| format!(" as {w}"))
                .unwrap_or_default();
            let note = a
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!(
                "{} [{}]: {}{who}{note}",
                a.name,
                a.provider,
                a.state.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn success(value: Value, text: String) -> CallToolResult {
    let structured = match value {
        Value::Object(_) => value,
        other => json!({ "result": other }),
    };
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    r
}

pub(crate) fn failure(f: &Failure) -> CallToolResult {
    let meaning = failure_meaning(f);
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!(
        "{} [reason: {}; exit code {}: {meaning}]",
        f.message,
        f.reason,
        f.exit.code()
    ))]);
    r.structured_content = Some(json!({"error": f, "exit_meaning": meaning}));
    r
}

/// What the server says of itself at `initialize`, over stdio and over the daemon's `/mcp`.
pub fn info() -> ServerConfig {
    InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new("sidekey", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "sidekey runs narrow, audited operations on the person's accounts (no tokens are handed out). If a tool fails with exit code 3, call auth_login and give the person the code and link (unless it says they were sent to the person); exit code 6 is a policy refusal, not worth retrying.",
        )
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        info()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.list().await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        Ok(self.call(&request.name, args).await.into())
    }
}

/// `sidekey mcp`: serve one MCP session on stdin/stdout until the client closes it.
/// `sidekey mcp` typed at a terminal waits silently for a client's JSON-RPC: one line on
/// stderr says what it is and how to leave (stdout stays the protocol's).
pub fn hint_on_a_terminal() {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprintln!(
            "sidekey mcp: serving MCP on stdin/stdout, for an MCP client to start (e.g. `openclaw mcp add sidekey --command sidekey --arg mcp`); press Ctrl-D to leave"
        );
    }
}

pub async fn serve(backend: Backend) -> Result<(), Failure> {
    use rmcp::service::ServerInitializeError as Init;
    let server = Server::new(backend);
    let running = match server
        .serve(wire::LineTransport::new(
            tokio::io::stdin(),
            tokio::io::stdout(),
        ))
        .await
    {
        Ok(r) => r,
        // The client left (closed our stdin) before the handshake: nothing went wrong here.
        Err(Init::ConnectionClosed(_) | Init::ExpectedInitializeRequest(None)) => return Ok(()),
        Err(e) => {
            return Err(Failure::usage(format!(
                "MCP session did not start: {e} (sidekey mcp expects an MCP client's initialize request on stdin)"
            )));
        }
    };
    running
        .waiting()
        .await
        .map_err(|e| Failure::internal(format!("MCP session failed: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::OpGrant;

    #[test]
    fn every_operation_has_a_tool_schema() {
        let schemas = input_schemas();
        for info in Operation::catalog() {
            let s = schemas
                .get(info.name)
                .unwrap_or_else(|| panic!("{} has no schema: derive JsonSchema", info.name));
            assert_eq!(s["type"], "object", "{}", info.name);
            assert!(s["properties"].get("op").is_none(), "{}", info.name);
            assert_eq!(s["additionalProperties"], false);
        }
        assert_eq!(schemas.len(), Operation::catalog().count());
        let search = &schemas["ms.files.search"];
        assert_eq!(search["required"], json!(["query"]));
        assert_eq!(search["properties"]["top"]["default"], 10);
        let cal = &schemas["ms.calendar"];
        assert!(cal.get("required").is_none(), "{cal:?}");
        assert!(cal["$defs"].get("Span").is_some(), "{cal:?}");
        assert!(cal["$defs"].get("When").is_some(), "{cal:?}");
        assert!(schemas["ms.me"].get("$defs").is_none());
    }

    /// Another service's enum, written the other ways serde allows: a variant wrapping a struct
    /// and one flattening a struct. Their fields still become the tool's own.
    #[test]
    fn variants_wrapping_or_flattening_a_struct_get_their_fields() {
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Upload {
            /// Where to.
            path: String,
            #[serde(default)]
            overwrite: bool,
        }
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Paging {
            #[serde(default)]
            page: u32,
        }
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[serde(tag = "op")]
        #[allow(dead_code)]
        enum TestOp {
            #[serde(rename = "t.upload")]
            Upload(Upload),
            #[serde(rename = "t.list")]
            List {
                folder: String,
                #[serde(flatten)]
                paging: Paging,
            },
            #[serde(rename = "t.ping")]
            Ping,
        }
        let s = schemas_of(schemars::schema_for!(TestOp).to_value());
        assert_eq!(s.len(), 3, "{s:?}");
        let up = &s["t.upload"];
        assert_eq!(up["properties"]["path"]["type"], "string", "{up:?}");
        assert_eq!(up["required"], json!(["path"]), "{up:?}");
        assert!(
            up.get("$ref").is_none() && up.get("allOf").is_none(),
            "{up:?}"
        );
        let list = &s["t.list"];
        assert!(list["properties"].get("page").is_some(), "{list:?}");
        assert!(list["properties"].get("folder").is_some(), "{list:?}");
        assert!(s["t.ping"]["properties"].as_object().unwrap().is_empty());
    }

    #[test]
    fn tool_arguments_read_as_the_wire_form() {
        let schemas = input_schemas();
        let args = |v: Value| v.as_object().cloned().unwrap();
        let op = operation_of("ms.files.search", args(json!({"query": "tax"})), &schemas).unwrap();
        assert_eq!(
            serde_json::to_value(&op).unwrap(),
            json!({"op": "ms.files.search", "query": "tax", "top": 10})
        );
        let op = operation_of(
            "ms.calendar",
            args(json!({"span": {"named": "tomorrow"}})),
            &schemas,
        )
        .unwrap();
        assert_eq!(op.info().name, "ms.calendar");
        let f = operation_of(
            "ms.files.search",
            args(json!({"query": "x", "rm": 1})),
            &schemas,
        )
        .unwrap_err();
        assert_eq!(f.exit, Exit::Usage);
        assert!(f.message.contains("unknown argument 'rm'"), "{}", f.message);
        let f = operation_of("ms.files.search", args(json!({"top": 3})), &schemas).unwrap_err();
        assert!(f.message.contains("query"), "{}", f.message);
        let f = operation_of("ms.files.search", args(json!({"query": 5})), &schemas).unwrap_err();
        assert_eq!(f.exit, Exit::Usage, "{}", f.message);
    }

    /// A write is listed only where the policy allows it, and an operation with no account of
    /// its provider is not listed.
    #[test]
    fn tools_follow_the_grants() {
        let schemas = input_schemas();
        let grants = OpsReply {
            ops: vec![
                OpGrant {
                    op: "ms.me".into(),
                    access: Access::Read,
                    accounts: vec!["work".into()],
                    ask: vec![],
                },
                OpGrant {
                    op: "ms.dashboard".into(),
                    access: Access::Read,
                    accounts: vec![],
                    ask: vec![],
                },
            ],
        };
        let tools = op_tools(&grants, &schemas);
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["ms_me"]);
        assert_eq!(
            tools[0].input_schema["properties"]["account"]["enum"],
            json!(["work"])
        );
        let a = tools[0].annotations.as_ref().unwrap();
        assert_eq!(a.read_only_hint, Some(true));
    }

    /// The real grants of a config (`Local::allowed_ops`, what `GET /v1/ops` serves): writes
    /// appear as tools only for accounts whose policy lists them, and AWS role keys never do.
    #[test]
    fn writes_are_tools_only_where_the_policy_allows_them_and_exports_never() {
        let text = r#"
[accounts.home]
provider = "google"
client_id = "1-x.apps.googleusercontent.com"
client_secret = "s"
scopes = ["openid", "drive.file", "youtube"]
[accounts.home.policy]
allow = ["google.docs.create"]
[accounts.shared]
provider = "google"
client_id = "2-x.apps.googleusercontent.com"
client_secret = "s"
scopes = ["openid", "drive.file"]
[accounts.sso]
provider = "aws"
start_url = "https://example.awsapps.com/start"
region = "eu-west-1"
[accounts.sso.policy]
aws_roles = ["123456789012/ReadOnly"]
"#;
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::Config::parse(&dir.path().join("c.toml"), text).unwrap();
        let ctx = crate::context::Context::new(dir.path().to_path_buf(), config);
        let local = crate::backend::local::Local::new(ctx, crate::signin::Stop::never());
        let backend = Backend::Local(Arc::new(local), crate::backend::Caller::Mcp);
        let grants = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(backend.allowed_ops())
            .unwrap();
        let tools = op_tools(&grants, &input_schemas());
        let tool = |n: &str| tools.iter().find(|t| t.name == n);
        let accounts =
            |n: &str| tool(n).unwrap().input_schema["properties"]["account"]["enum"].clone();
        // Reads: every account of the service.
        assert_eq!(accounts("google_docs_read"), json!(["home", "shared"]));
        assert_eq!(accounts("aws_roles"), json!(["sso"]));
        // A listed write: only where it is listed, and marked as a change.
        assert_eq!(accounts("google_docs_create"), json!(["home"]));
        let a = tool("google_docs_create")
            .unwrap()
            .annotations
            .clone()
            .unwrap();
        assert_eq!(a.read_only_hint, Some(false));
        // Writes nobody allowed: no tool at all.
        for w in [
            "google_docs_revise",
            "google_inbox_add",
            "google_youtube_playlist_add",
        ] {
            assert!(tool(w).is_none(), "{w} is listed");
        }
        // Role keys: never a tool, even for a role in aws_roles.
        assert!(tool("aws_credentials").is_none());
    }

    #[test]
    fn failures_carry_reason_and_exit_meaning() {
        let r = failure(&Failure::policy("policy: no"));
        assert_eq!(r.is_error, Some(true));
        let s = r.structured_content.unwrap();
        assert_eq!(s["error"]["exit_code"], 6);
        assert_eq!(s["error"]["reason"], "policy");
        assert!(s["exit_meaning"].as_str().unwrap().contains("policy"));
    }

    /// Exit 5 says "trying later may help", which is wrong for a change that was made and for a
    /// revision refused because the document changed: those say what to do instead.
    #[test]
    fn a_change_that_was_made_is_not_worth_retrying() {
        let made = failure(&Failure::new(
            Exit::Provider,
            Reason::WrittenUnconfirmed,
            "the change was made",
        ));
        let s = made.structured_content.unwrap();
        assert_eq!(s["error"]["exit_code"], 5);
        let meaning = s["exit_meaning"].as_str().unwrap();
        assert!(meaning.contains("do not retry"), "{meaning}");
        assert!(!meaning.contains("trying later"), "{meaning}");
        let changed = failure(&Failure::new(
            Exit::Provider,
            Reason::DocumentChanged,
            "the document changed",
        ));
        let meaning = changed.structured_content.unwrap()["exit_meaning"].clone();
        assert!(
            meaning.as_str().unwrap().contains("read it again"),
            "{meaning}"
        );
        let busy = failure(&Failure::new(Exit::Provider, Reason::Busy, "busy"));
        assert!(
            busy.structured_content.unwrap()["exit_meaning"]
                .as_str()
                .unwrap()
                .contains("trying later may help")
        );
    }
}
