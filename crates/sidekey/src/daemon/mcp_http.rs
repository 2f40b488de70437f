//! `/mcp`: the MCP server of `sidekey mcp` ([`crate::mcp::Server`]: the same tools, schemas and
//! answers) over Streamable HTTP, on the daemon's own listeners, for agents that reach the daemon
//! without a sidekey binary (a URL or a socket and the key file).
//!
//! * **Behind the API key** like every `/v1` route (`routes.rs` puts the key check, the bounded
//!   body read and the audit layer in front): the request's caller is the agent its bearer key
//!   names, seen here as `Caller::Api { via: "mcp:unix" | "mcp:tcp", agent }`. Each request gets a
//!   server whose backend is the daemon's own [`Local`](crate::backend::Local) with that caller,
//!   so every tool call goes through the one guard with that agent's rights, approvals and audit
//!   entry, and `tools/list` is that agent's allowed operations.
//! * **Stateless**, JSON answers: each POST is one JSON-RPC exchange, answered with one JSON
//!   body; there is no session to hijack and nothing kept between requests. The exchange is
//!   read here, not by rmcp's Streamable HTTP server: that server (sessions, SSE streams,
//!   resumption, its own request and header checks) cost the static binary 876 KB for the four
//!   methods this endpoint answers, the handler here 172 KB (docs/benchmarks.md, "The binary
//!   with MCP over HTTP"; docs/dependencies.md, "MCP server"). The messages are rmcp's
//!   types, read by the stdio transport's [`classify`](crate::mcp::wire::classify), so a body
//!   gets the answers a line of `sidekey mcp` gets.
//! * **`Origin`** (the MCP specification's rule against DNS rebinding, "Security Warning" of its
//!   Streamable HTTP transport): a request that carries one that is not this listener's own
//!   address is refused with 403 before its key is looked at ([`refuse_origin`]). On the unix
//!   socket no `Origin` is the daemon's (no browser page is served from a socket).
//! * **No provider token in or out**: no tool takes one or returns one (there is no token
//!   tool), and the request's `Authorization` header is the daemon's key, read by the key layer
//!   and never passed on.
//! * **Calls run detached** like the routes' ([`Daemon::detached`]): a client that hangs up
//!   does not cut a write short, and shutdown waits for the call.

use super::{Daemon, Shared};
use crate::backend::{Backend, Caller};
use crate::error::{Exit, Failure, Reason};
use crate::mcp::Server;
use crate::mcp::wire::{self, Incoming};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientRequest, JsonObject, JsonRpcMessage, ProtocolVersion};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The path of the MCP endpoint.
pub const PATH: &str = "/mcp";

/// The `Origin`s that are this listener's own address, for [`refuse_origin`].
#[derive(Clone, Debug, Default)]
pub struct Origins(Arc<Vec<String>>);

impl Origins {
    /// No `Origin` is the listener's own (the unix socket).
    pub fn none() -> Origins {
        Origins::default()
    }

    /// A TCP listener bound to `addr`: `http://ADDR`; and when it is a loopback or unspecified
    /// address, its port on the loopback names a local page would have (`localhost`,
    /// `127.0.0.1`, `[::1]`).
    pub fn of(addr: std::net::SocketAddr) -> Origins {
        let port = addr.port();
        let mut own = vec![format!("http://{addr}")];
        if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                own.push(format!("http://{host}:{port}"));
            }
        }
        if port == 80 {
            let without: Vec<String> = own.iter().map(|o| o.replace(":80", "")).collect();
            own.extend(without);
        }
        own.dedup();
        Origins(Arc::new(own))
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        self.0.contains(&origin)
    }
}

/// The MCP caller of a daemon listener: `api:tcp` → `mcp:tcp`, so the audit log and the
/// approval messages say the call came through MCP.
pub fn mcp_via(api_via: &'static str) -> &'static str {
    match api_via {
        "api:unix" => "mcp:unix",
        "api:tcp" => "mcp:tcp",
        "api:test" => "mcp:test",
        _ => "mcp",
    }
}

/// The refusal of a request whose `Origin` is not this listener's own address (403), before
/// anything else is read; `None` lets it through. Counted with the refused keys in the audit log
/// ([`Reason::Unauthorized`]), so a page hammering the daemon cannot fill the disk. `via`: the
/// endpoint's caller (`mcp:tcp`), whom the audit layer names.
pub(super) fn refuse_origin(
    own: &Origins,
    via: &'static str,
    headers: &HeaderMap,
) -> Option<Response> {
    let origin = headers.get(axum::http::header::ORIGIN)?;
    if origin.to_str().is_ok_and(|o| own.allows(o)) {
        return None;
    }
    let f = Failure::new(
        Exit::Policy,
        Reason::Unauthorized,
        "the request's Origin is not this daemon's address: MCP over HTTP is refused to web pages (DNS rebinding)",
    );
    let mut resp = f.into_response();
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.extensions_mut().insert(Caller::api(via));
    Some(resp)
}

/// The route mounted at [`PATH`]: `POST` only (any other method gets 405 and `Allow: POST`).
/// The key, `Origin` and body layers stand in front of it (`routes.rs`).
pub(super) fn route<S: Clone + Send + Sync + 'static>(d: Shared) -> axum::routing::MethodRouter<S> {
    let schemas = Arc::new(crate::mcp::input_schemas());
    axum::routing::post(move |req: axum::extract::Request| {
        let (d, schemas) = (d.clone(), schemas.clone());
        async move { exchange(d, schemas, req).await }
    })
}

/// The protocol versions this endpoint speaks: those with the `initialize` handshake (the
/// MCP specification's revisions up to 2025-11-25). A client of a newer, handshake-free
/// revision is told these (`-32022`) and falls back to `initialize`.
fn handshake_versions() -> &'static [ProtocolVersion] {
    let last = ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .position(|v| *v == ProtocolVersion::LATEST_WITH_INITIALIZE)
        .unwrap_or(ProtocolVersion::KNOWN_VERSIONS.len() - 1);
    &ProtocolVersion::KNOWN_VERSIONS[..=last]
}

/// JSON-RPC error codes: JSON-RPC 2.0 §5.1, and MCP's for an unsupported protocol version.
const METHOD_NOT_FOUND: i64 = -32601;
const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// One POST: the body (read whole by the body layer) is one JSON-RPC message.
///
/// | the request | the answer |
/// |---|---|
/// | `Accept` that takes no JSON | 406 |
/// | `Content-Type` not `application/json` | 415 |
/// | `MCP-Protocol-Version` of a revision without `initialize` | 400, `-32022` naming the ones spoken |
/// | not one JSON-RPC request ([`wire::classify`]: not JSON, a batch, no method) | 400, the JSON-RPC error |
/// | a notification or an answer | 202, no body |
/// | `initialize`, `ping`, `tools/list`, `tools/call` | 200, the result |
/// | another method | 200, `-32601` |
async fn exchange(
    d: Shared,
    schemas: Arc<BTreeMap<String, JsonObject>>,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    if !accepts_json(&parts.headers) {
        return plain(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: /mcp answers with application/json",
        );
    }
    let json_body = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| essence(v).eq_ignore_ascii_case("application/json"));
    if !json_body {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type: the body of a POST to /mcp is one JSON-RPC message, Content-Type: application/json",
        );
    }
    if let Some(v) = parts.headers.get("mcp-protocol-version")
        && !handshake_versions()
            .iter()
            .any(|k| k.as_str().as_bytes() == v.as_bytes())
    {
        let supported: Vec<&str> = handshake_versions().iter().map(|v| v.as_str()).collect();
        let requested = String::from_utf8_lossy(v.as_bytes())
            .chars()
            .take(40)
            .collect::<String>();
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"jsonrpc": "2.0", "id": null, "error": {
                "code": UNSUPPORTED_PROTOCOL_VERSION,
                "message": "Unsupported MCP-Protocol-Version: this server speaks the revisions with the initialize handshake",
                "data": {"supported": supported, "requested": requested},
            }}),
        );
    }
    // The body layer read it whole, within its bound: this only takes it.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: the body could not be read",
        );
    };
    let message = match wire::classify(&bytes) {
        Incoming::Message(m) => *m,
        Incoming::Answer(mut errors) => {
            let errors = if errors.len() == 1 {
                errors.remove(0)
            } else {
                Value::Array(errors)
            };
            return answer(StatusCode::BAD_REQUEST, errors);
        }
        // A blank body is no message at all.
        Incoming::Ignore if bytes.iter().all(u8::is_ascii_whitespace) => {
            return answer(
                StatusCode::BAD_REQUEST,
                wire::error(
                    Value::Null,
                    wire::PARSE_ERROR,
                    "Parse error: the body is empty",
                ),
            );
        }
        // A notification or an answer rmcp cannot read: as one it can, accepted.
        Incoming::Ignore => return StatusCode::ACCEPTED.into_response(),
    };
    let request = match message {
        JsonRpcMessage::Request(r) => r,
        // `notifications/initialized`, a cancellation, an answer: nothing is kept between
        // requests, so there is nothing to do; accepted (202) as the transport says.
        _ => return StatusCode::ACCEPTED.into_response(),
    };
    let id = request.id.into_json_value();
    let result = match request.request {
        ClientRequest::InitializeRequest(init) => {
            let asked = init.params.protocol_version;
            let mut info = crate::mcp::info();
            // The client's revision if this server speaks it, else the newest it does (the
            // client then decides whether to go on).
            info.protocol_version = if handshake_versions().contains(&asked) {
                asked
            } else {
                ProtocolVersion::LATEST_WITH_INITIALIZE
            };
            serde_json::to_value(info)
        }
        ClientRequest::PingRequest(_) => Ok(json!({})),
        ClientRequest::ListToolsRequest(_) => match server(&d, &schemas, &parts) {
            Ok(server) => match server.list().await {
                Ok(list) => serde_json::to_value(list),
                Err(e) => {
                    return answer(StatusCode::OK, wire::error(id, e.code.0.into(), &e.message));
                }
            },
            Err(e) => return answer(StatusCode::OK, e.into_error(id)),
        },
        ClientRequest::CallToolRequest(call) => match server(&d, &schemas, &parts) {
            Ok(server) => {
                let args = call.params.arguments.unwrap_or_default();
                let name = call.params.name.to_string();
                let result =
                    Daemon::detached(&d, async move { Ok(server.call(&name, args).await) })
                        .await
                        .unwrap_or_else(|f| crate::mcp::failure(&f));
                serde_json::to_value(result)
            }
            Err(e) => return answer(StatusCode::OK, e.into_error(id)),
        },
        other => {
            let method: String = other.method().chars().take(100).collect();
            return answer(
                StatusCode::OK,
                wire::error(
                    id,
                    METHOD_NOT_FOUND,
                    &format!(
                        "Method not found: {method} (this server has tools only: tools/list, tools/call)"
                    ),
                ),
            );
        }
    };
    // `parts` (and the body layer's share of the daemon's read budget in it) lives to here.
    drop(parts);
    match result {
        Ok(result) => answer(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
        ),
        Err(e) => answer(
            StatusCode::OK,
            wire::error(id, -32603, &format!("Internal error: {e}")),
        ),
    }
}

/// No authenticated caller on the request: the key layer did not run (a routing mistake).
struct NoCaller;

impl NoCaller {
    fn into_error(self, id: Value) -> Value {
        wire::error(
            id,
            -32603,
            "Internal error: the request reached MCP without an authenticated caller",
        )
    }
}

/// The server for this request's caller (the key layer put it on the request).
fn server(
    d: &Shared,
    schemas: &Arc<BTreeMap<String, JsonObject>>,
    parts: &axum::http::request::Parts,
) -> Result<Server, NoCaller> {
    match parts.extensions.get::<Caller>() {
        Some(c @ Caller::Api { .. }) => Ok(Server::sharing(
            Backend::Local(d.local.clone(), c.clone()),
            schemas.clone(),
        )),
        _ => Err(NoCaller),
    }
}

/// A media type without its parameters.
fn essence(v: &str) -> &str {
    v.split_once(';').map_or(v, |(e, _)| e).trim()
}

/// Whether `Accept` takes a JSON answer: no `Accept` (a program), or a media range that covers
/// `application/json` without `q=0`. (MCP clients send `application/json, text/event-stream`.)
fn accepts_json(headers: &HeaderMap) -> bool {
    let mut any = false;
    for v in headers.get_all(header::ACCEPT) {
        any = true;
        let Ok(v) = v.to_str() else { continue };
        for range in v.split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or("").trim();
            let refused = params.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if !refused
                && ["application/json", "application/*", "*/*"]
                    .iter()
                    .any(|m| media.eq_ignore_ascii_case(m))
            {
                return true;
            }
        }
    }
    !any
}

/// A JSON answer.
fn answer(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A refusal before any JSON-RPC was read: one line of text.
fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for v in v {
            h.append(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        accepts_json(&h)
    }

    #[test]
    fn accept_must_take_json() {
        assert!(accept(&[]));
        assert!(accept(&["application/json, text/event-stream"]));
        assert!(accept(&["text/event-stream", "application/json"]));
        assert!(accept(&["*/*"]));
        assert!(accept(&["Application/JSON;q=0.5"]));
        assert!(!accept(&["text/event-stream"]));
        assert!(!accept(&["application/json;q=0, text/html"]));
        assert!(!accept(&["text/html"]));
    }

    #[test]
    fn the_handshake_versions_end_with_the_newest_that_has_initialize() {
        let v = handshake_versions();
        assert_eq!(v.last(), Some(&ProtocolVersion::LATEST_WITH_INITIALIZE));
        assert!(v.contains(&ProtocolVersion::V_2025_06_18));
        assert!(!v.contains(&ProtocolVersion::V_2026_07_28));
    }
}
