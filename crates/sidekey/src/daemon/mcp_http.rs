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
//! * **Stateless**, JSON answers (rmcp's `StreamableHttpService` without sessions): each POST is
//!   one JSON-RPC exchange; there is no session to hijack and nothing kept between requests.
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
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, JsonObject, ListToolsResult, PaginatedRequestParams,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
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

/// The tower service mounted at [`PATH`].
pub(super) fn service(d: Shared) -> StreamableHttpService<Endpoint, NeverSessionManager> {
    let endpoint = Endpoint {
        d,
        schemas: Arc::new(crate::mcp::input_schemas()),
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_sse_retry(None)
        // The bodies were read whole, under the route's limit, by the daemon's body layer.
        .with_max_request_body_bytes(super::OP_BODY_LIMIT)
        // `Host`: the daemon is reached by whatever name its network gives it (a compose
        // service name, say); the key and [`refuse_origin`] stand where rmcp's loopback-only
        // default would refuse those. `Origin` is checked by [`refuse_origin`].
        .disable_allowed_hosts()
        .disable_allowed_origins();
    StreamableHttpService::new(
        move || Ok(endpoint.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// The handler for one request: which caller is asking is read from the request.
#[derive(Clone)]
pub(super) struct Endpoint {
    d: Shared,
    schemas: Arc<BTreeMap<String, JsonObject>>,
}

impl Endpoint {
    /// The server for this request's caller (the key layer put it on the request).
    fn server(&self, ctx: &RequestContext<RoleServer>) -> Result<Server, McpError> {
        let caller = ctx
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>())
            .cloned();
        match caller {
            Some(c @ Caller::Api { .. }) => Ok(Server::sharing(
                Backend::Local(self.d.local.clone(), c),
                self.schemas.clone(),
            )),
            _ => Err(McpError::internal_error(
                "the request reached MCP without an authenticated caller",
                None,
            )),
        }
    }
}

impl ServerHandler for Endpoint {
    fn get_info(&self) -> ServerConfig {
        crate::mcp::info()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.server(&context)?.list().await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let server = self.server(&context)?;
        let args = request.arguments.unwrap_or_default();
        let name = request.name.to_string();
        let result = Daemon::detached(&self.d, async move { Ok(server.call(&name, args).await) })
            .await
            .unwrap_or_else(|f| crate::mcp::failure(&f));
        Ok(result.into())
    }
}
