// @ts-check
/**
 * The sidekey daemon as this plugin reaches it: where it is (a unix socket or an http(s) URL),
 * the API key (read from a file at every request, so a rotated key is picked up), and one
 * request. `/auth` uses four routes: `GET /v1/status`, `POST /v1/login`, `GET /v1/login/NAME` and
 * `POST /v1/login/NAME/redirect` (a pasted address). None of their answers carries a token; the
 * plugin never calls `/v1/token`. The API: crates/sidekey/src/api.rs and
 * docs/sidecar.md, "The daemon and client mode"; where the plugin finds the daemon:
 * docs/openclaw-setup.md, "Where the plugin finds the daemon".
 *
 * Node's own `http`/`https` only: nothing is fetched at run time, nothing but the daemon is
 * contacted.
 */

import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";

/** How long one request may take (a sign-in's start asks the provider for a code first). */
export const REQUEST_TIMEOUT_MS = 20_000;
/** The largest answer read; the routes used here answer a few KB. */
const MAX_ANSWER = 1024 * 1024;
/** The shortest API key the daemon takes (crates/sidekey/src/context.rs, `read_api_key`). */
const MIN_KEY_LENGTH = 16;

/**
 * Why the daemon could not be asked, or what it refused. `kind`:
 * - `setup`: this plugin's settings are missing or wrong (no address, no key file);
 * - `unreachable`: nothing answered at the address;
 * - `key`: the daemon refused the API key;
 * - `api`: the daemon answered with its error body (`failure` holds it);
 * - `account`: the daemon has no account of that name (`failure` holds its refusal);
 * - `answer`: something answered, but not as the daemon does.
 */
export class DaemonError extends Error {
  /**
   * @param {"setup" | "unreachable" | "key" | "api" | "account" | "answer"} kind
   * @param {string} message one line of plain text (not Markdown) for the person, with the fix
   * @param {{exit_code?: number, reason?: string, message?: string}} [failure] the daemon's own
   */
  constructor(kind, message, failure) {
    super(message);
    this.kind = kind;
    this.failure = failure;
  }
}

/**
 * @typedef {object} Target
 * @property {string | undefined} socket the unix socket path, when the daemon is reached by one
 * @property {URL | undefined} url the http(s) address otherwise
 * @property {string} shown the address as a message may show it (no user or password)
 * @property {string} keyFile the API key file
 * @property {string} keyFrom where the key file setting came from, for messages
 */

/**
 * Where the daemon is and where its key is, from the plugin's config
 * (`plugins.entries.sidekey.config`) first, then the environment the sidekey client reads
 * (`SIDEKEY_URL`, `SIDEKEY_SOCKET`, `SIDEKEY_API_KEY_FILE`, `SIDEKEY_ALLOW_PLAIN_HTTP`): with
 * the compose add-on (deploy/compose.openclaw.yaml) the gateway already has these.
 *
 * @param {Record<string, unknown> | undefined} config
 * @param {Record<string, string | undefined>} env
 * @returns {Target}
 */
export function resolveTarget(config, env) {
  const cfg = config ?? {};
  const text = (/** @type {unknown} */ v) => (typeof v === "string" && v.trim() ? v.trim() : undefined);
  const cfgUrl = text(cfg.url);
  const cfgSocket = text(cfg.socket);
  if (cfgUrl && cfgSocket) {
    throw new DaemonError(
      "setup",
      "The sidekey plugin's config sets both url and socket: keep one (plugins.entries.sidekey.config).",
    );
  }
  let address;
  let from;
  if (cfgUrl) [address, from] = [cfgUrl, "plugins.entries.sidekey.config.url"];
  else if (cfgSocket) [address, from] = [`unix://${cfgSocket}`, "plugins.entries.sidekey.config.socket"];
  else if (text(env.SIDEKEY_URL)) [address, from] = [text(env.SIDEKEY_URL), "SIDEKEY_URL"];
  else if (text(env.SIDEKEY_SOCKET)) [address, from] = [`unix://${text(env.SIDEKEY_SOCKET)}`, "SIDEKEY_SOCKET"];
  else {
    throw new DaemonError(
      "setup",
      "The sidekey plugin does not know where the daemon is: set SIDEKEY_URL (unix:///run/sidekey/sidekey.sock) in the gateway's environment, or plugins.entries.sidekey.config.socket.",
    );
  }
  const keyFile = text(cfg.apiKeyFile) ?? text(env.SIDEKEY_API_KEY_FILE);
  const keyFrom = text(cfg.apiKeyFile) ? "plugins.entries.sidekey.config.apiKeyFile" : "SIDEKEY_API_KEY_FILE";
  if (!keyFile) {
    throw new DaemonError(
      "setup",
      "The sidekey plugin has no API key file: set SIDEKEY_API_KEY_FILE (/run/secrets/sidekey_api_key) in the gateway's environment, or plugins.entries.sidekey.config.apiKeyFile.",
    );
  }
  const allowPlain =
    typeof cfg.allowPlainHttp === "boolean"
      ? cfg.allowPlainHttp
      : ["1", "true", "yes"].includes((env.SIDEKEY_ALLOW_PLAIN_HTTP ?? "").trim().toLowerCase());
  if (address.startsWith("unix://")) {
    const socket = address.slice("unix://".length);
    if (!socket.startsWith("/")) {
      throw new DaemonError("setup", `${from} must name the socket by its absolute path (unix:///run/sidekey/sidekey.sock).`);
    }
    return { socket, url: undefined, shown: `unix://${socket}`, keyFile, keyFrom };
  }
  let url;
  try {
    url = new URL(address);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    // Not quoted: it may hold a password.
    throw new DaemonError("setup", `${from} must be unix:///path/to.sock or http(s)://host:port (it is neither; not quoted here, as it may hold a password).`);
  }
  const shown = withoutCredentials(url);
  if (url.protocol === "http:" && !isLoopback(url.hostname) && !allowPlain) {
    throw new DaemonError(
      "setup",
      `${from} (${shown}) is plain http to a host that is not loopback: the API key would travel in cleartext. Use the unix socket, https://, or set SIDEKEY_ALLOW_PLAIN_HTTP=1 (or the plugin's allowPlainHttp) if that network is private.`,
    );
  }
  return { socket: undefined, url, shown, keyFile, keyFrom };
}

/** @param {string} host */
function isLoopback(host) {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** `url`'s origin and path, never its user and password. @param {URL} url */
function withoutCredentials(url) {
  return `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname}`;
}

/**
 * The API key, read now. Its value never leaves this module but as the bearer header.
 * @param {Target} t
 */
function readKey(t) {
  let text;
  try {
    text = readFileSync(t.keyFile, "utf8");
  } catch (e) {
    const code = /** @type {NodeJS.ErrnoException} */ (e).code;
    const why =
      code === "ENOENT"
        ? "there is no such file"
        : code === "EACCES"
          ? "permission denied (the gateway's user needs to read it: with the compose add-on, group 65532 and mode 0440)"
          : `${code ?? "unreadable"}`;
    throw new DaemonError("setup", `Cannot read the sidekey API key file ${t.keyFile} (${t.keyFrom}): ${why}.`);
  }
  const key = text.trim();
  if (key.length < MIN_KEY_LENGTH) {
    throw new DaemonError(
      "setup",
      `The sidekey API key file ${t.keyFile} (${t.keyFrom}) holds no key (shorter than ${MIN_KEY_LENGTH} characters): it must be the file the daemon reads.`,
    );
  }
  return key;
}

/**
 * One request to the daemon: the parsed JSON of a 2xx answer, else a [`DaemonError`].
 *
 * @param {Target} t
 * @param {"GET" | "POST"} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export function call(t, method, path, body) {
  const key = readKey(t);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  /** @type {http.RequestOptions} */
  const options = {
    method,
    path: t.socket ? path : `${t.url?.pathname.replace(/\/$/, "") ?? ""}${path}`,
    headers: {
      authorization: `Bearer ${key}`,
      accept: "application/json",
      ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
    },
    timeout: REQUEST_TIMEOUT_MS,
  };
  if (t.socket) {
    options.socketPath = t.socket;
    options.host = "sidekey";
  } else if (t.url) {
    options.hostname = t.url.hostname.replace(/^\[|\]$/g, "");
    options.port = t.url.port || (t.url.protocol === "https:" ? 443 : 80);
  }
  const client = t.url?.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(options, (res) => {
      const chunks = [];
      let size = 0;
      res.on("data", (c) => {
        size += c.length;
        if (size > MAX_ANSWER) {
          req.destroy();
          reject(new DaemonError("answer", `The answer from ${t.shown} is larger than the sidekey daemon sends: is that address the daemon?`));
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => {
        const v = settle(t, res.statusCode ?? 0, Buffer.concat(chunks));
        if (v instanceof DaemonError) reject(v);
        else resolve(v);
      });
      res.on("error", (e) => reject(unreachable(t, e)));
    });
    req.on("timeout", () => {
      req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" }));
    });
    req.on("error", (e) => reject(unreachable(t, e)));
    req.end(payload);
  });
}

/**
 * A finished answer: the JSON of a 2xx, else the error it stands for (returned, not thrown).
 * @param {Target} t
 * @param {number} status
 * @param {Buffer} bytes
 */
function settle(t, status, bytes) {
  let json;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    json = undefined;
  }
  if (status >= 200 && status < 300 && json && typeof json === "object") return json;
  const failure = json && typeof json === "object" && json.error && typeof json.error === "object" ? json.error : undefined;
  if (status === 401 || failure?.reason === "unauthorized") {
    return new DaemonError(
      "key",
      `The sidekey daemon at ${t.shown} refused the API key in ${t.keyFile} (${failure?.message ?? "HTTP 401"}): that file must hold the key the daemon reads (its SIDEKEY_API_KEY_FILE; with the compose add-on, the sidekey_api_key secret).`,
      failure,
    );
  }
  if (failure && typeof failure.message === "string") {
    return new DaemonError("api", failure.message, failure);
  }
  return new DaemonError("answer", `Something at ${t.shown} answered HTTP ${status}, not as the sidekey daemon does: is that address the daemon?`);
}

/**
 * Why nothing answered, with what to check.
 * @param {Target} t
 * @param {Error & {code?: string}} e
 */
function unreachable(t, e) {
  const where = t.socket ? `the socket ${t.socket}` : t.shown;
  const why =
    e.code === "ENOENT"
      ? `there is no socket at ${t.socket}`
      : e.code === "ECONNREFUSED"
        ? `nothing listens at ${where}`
        : e.code === "EACCES"
          ? `permission denied on ${where} (the gateway's user must be in the socket's group: with the compose add-on, group_add 65532)`
          : e.code === "ETIMEDOUT"
            ? `it did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`
            : e.code === "ENOTFOUND" || e.code === "EAI_AGAIN"
              ? `the host ${t.url?.hostname} is unknown`
              : `${e.code ?? e.message}`;
  const check = t.socket
    ? "Is the sidekey container running (docker compose ps sidekey) and the sidekey-socket volume mounted into the gateway?"
    : "Is sidekey serve --listen running there?";
  return new DaemonError("unreachable", `Cannot reach the sidekey daemon at ${t.shown}: ${why}. ${check}`);
}
