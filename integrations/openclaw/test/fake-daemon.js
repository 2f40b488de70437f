// @ts-check
/**
 * A stand-in for the sidekey daemon on a unix socket, for the plugin's unit tests: it checks the
 * bearer key as the daemon does (401 with `{"error": {"exit_code": 6, "reason":
 * "unauthorized", …}}`), records every request, and answers each route with what the test
 * gives it, in the daemon's shapes (crates/sidekey/src/api.rs). The plugin is tested against
 * the real daemon, through the real OpenClaw, in crates/sidekey/tests/it/openclaw_plugin.rs.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const KEY = "unit-test-key-0123456789abcdef";

/**
 * @typedef {{status: number, body: unknown}} Answer
 * @typedef {{method: string, path: string, authorization: string | undefined, body: string}} Seen
 */

/**
 * Starts the stand-in. `routes` maps `METHOD /path` to an answer (or a function of the request
 * body giving one); anything else is 404 as the daemon's router answers.
 *
 * @param {Record<string, Answer | ((body: any) => Answer)>} routes
 */
export async function fakeDaemon(routes) {
  const dir = mkdtempSync(join(tmpdir(), "sidekey-plugin-test-"));
  const socket = join(dir, "sidekey.sock");
  const keyFile = join(dir, "api_key");
  writeFileSync(keyFile, `${KEY}\n`);
  /** @type {Seen[]} */
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", path: req.url ?? "", authorization: req.headers.authorization, body });
      const send = (/** @type {number} */ status, /** @type {unknown} */ json) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      const auth = req.headers.authorization ?? "";
      if (auth !== `Bearer ${KEY}`) {
        send(401, { error: { exit_code: 6, reason: "unauthorized", message: auth ? "wrong API key" : "missing API key" } });
        return;
      }
      const route = routes[`${req.method} ${req.url}`];
      if (!route) {
        res.writeHead(404);
        res.end();
        return;
      }
      const answer = typeof route === "function" ? route(body ? JSON.parse(body) : undefined) : route;
      send(answer.status, answer.body);
    });
  });
  await new Promise((resolve) => server.listen(socket, () => resolve(undefined)));
  return {
    socket,
    keyFile,
    seen,
    /** The environment the compose add-on gives the gateway, pointing here. */
    env: { SIDEKEY_URL: `unix://${socket}`, SIDEKEY_API_KEY_FILE: keyFile },
    async close() {
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The daemon's refusal of a name it has no account for (config/mod.rs, `Config::account`). */
export function noSuchAccount(/** @type {string} */ name, /** @type {string[]} */ known) {
  return {
    status: 400,
    body: {
      error: {
        exit_code: 2,
        reason: "config",
        message: `no account '${name}' in /etc/sidekey/config.toml (known: ${known.join(", ")})`,
      },
    },
  };
}

/** A key file of its own (the right key), outside any stand-in's folder, and its removal. */
export function keyElsewhere() {
  const dir = mkdtempSync(join(tmpdir(), "sidekey-plugin-key-"));
  const file = join(dir, "api_key");
  writeFileSync(file, `${KEY}\n`);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
