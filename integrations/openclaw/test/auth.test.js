// @ts-check
// `/auth`'s replies and refusals against a stand-in daemon (test/fake-daemon.js). Run with
// `node --test test/*.test.js`; crates/sidekey/tests/it/openclaw_plugin.rs runs them too.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";

import plugin, { reply } from "../index.js";
import { resolveTarget } from "../src/daemon.js";
import { plain } from "../src/text.js";
import { fakeDaemon, KEY, keyElsewhere, noSuchAccount } from "./fake-daemon.js";

const STATUS = {
  accounts: [
    {
      name: "work",
      provider: "microsoft",
      state: "signed_in",
      user: { name: "Ann Lee", email: "ann_lee@contoso.com" },
      scopes: ["User.Read"],
      expires_at: "2026-12-07T14:05:00Z",
      note: null,
    },
    { name: "gh", provider: "github", state: "signed_out", user: null, scopes: [], expires_at: null, note: null },
    { name: "home", provider: "google", state: "pending", user: null, scopes: [], expires_at: "2026-12-07T13:20:00Z", note: null },
    { name: "old", provider: "microsoft", state: "reauth_required", user: { name: "Ann", email: null }, scopes: [], expires_at: null, note: null },
  ],
};

test("/auth lists every account with who, until when and what to send next", async () => {
  const d = await fakeDaemon({ "GET /v1/status": { status: 200, body: STATUS } });
  try {
    const text = await reply("", {}, d.env);
    assert.equal(
      text,
      [
        "sidekey accounts:",
        "- **work** (microsoft): signed in as Ann Lee (ann\\_lee@contoso.com); token until 2026-12-07 14:05 UTC",
        "- **gh** (github): not signed in: `/auth gh`",
        "- **home** (google): waiting for you to sign in (the code expires 2026-12-07 13:20 UTC); progress: `/auth home status`",
        "- **old** (microsoft): must sign in again (was Ann): `/auth old`",
      ].join("\n"),
    );
    assert.deepEqual(
      d.seen.map((s) => [s.method, s.path, s.authorization]),
      [["GET", "/v1/status", `Bearer ${KEY}`]],
    );
  } finally {
    await d.close();
  }
});

test("what someone else chose cannot become a link, a tag or formatting", async () => {
  const hostile = {
    accounts: [
      {
        name: "work",
        provider: "microsoft",
        state: "signed_in",
        user: { name: "[Open](https://evil.example) <b>x</b>\u202e *y*", email: null },
        scopes: [],
        expires_at: null,
        note: "line\nbreak `code`",
        // Fields the plugin does not know never reach the chat.
        access_token: "ya29.never-shown",
      },
    ],
  };
  const d = await fakeDaemon({ "GET /v1/status": { status: 200, body: hostile } });
  try {
    const text = await reply(undefined, {}, d.env);
    assert.equal(
      text,
      "sidekey accounts:\n- **work** (microsoft): signed in as \\[Open\\]\\(https://evil.example\\) ‹b›x‹/b› \\*y\\* — line break \\`code\\`",
    );
    assert.ok(!text.includes("never-shown"));
  } finally {
    await d.close();
  }
});

test("a link or code that is not plain is shown as text, never as Markdown", async () => {
  const d = await fakeDaemon({
    "POST /v1/login": {
      status: 200,
      body: { event: "code", account: "work", provider: "oidc", scopes: [], user_code: "AB`C*D", verification_uri: "https://idp.example/a](https://evil.example) x", verification_uri_complete: null, expires_at: "2026-12-07T13:20:00Z", interval: 5 },
    },
  });
  try {
    assert.equal(
      await reply("work", {}, d.env),
      "Sign-in for **work** (oidc): open ‹https://idp.example/a\\]\\(https://evil.example\\) x› and enter the code AB\\`C\\*D (it expires 2026-12-07 13:20 UTC). Sign in with your own account. Progress: `/auth work status`",
    );
  } finally {
    await d.close();
  }
});

test("/auth NAME: the code went to the person's channel, so the chat gets no code", async () => {
  const d = await fakeDaemon({
    "POST /v1/login": (body) => {
      assert.deepEqual(body, { account: "work" });
      return {
        status: 200,
        body: {
          event: "code",
          account: "work",
          provider: "microsoft",
          scopes: ["User.Read"],
          user_code: "",
          verification_uri: "",
          verification_uri_complete: null,
          expires_at: "2026-12-07T13:20:00Z",
          interval: 5,
          joined: false,
          sent_to: ["telegram"],
        },
      };
    },
  });
  try {
    assert.equal(
      await reply("Work", {}, d.env),
      "Sign-in for **work** (microsoft): the code and its link were sent to you on telegram (it expires 2026-12-07 13:20 UTC). Open them there and sign in with your own account. Progress: `/auth work status`",
    );
  } finally {
    await d.close();
  }
});

test("/auth NAME: with the code for this chat, the code and the link", async () => {
  const code = {
    event: "code",
    account: "home",
    provider: "oidc",
    scopes: [],
    user_code: "WDJB-MJHT",
    verification_uri: "https://idp.example/device",
    verification_uri_complete: "https://idp.example/device?user_code=WDJB-MJHT",
    expires_at: "2026-12-07T13:20:00Z",
    interval: 5,
  };
  const d = await fakeDaemon({
    "POST /v1/login": { status: 200, body: { ...code, joined: true } },
    "GET /v1/login/home": { status: 200, body: { progress: "pending", ...code } },
  });
  try {
    assert.equal(
      await reply("home", {}, d.env),
      "A sign-in for this account was already under way: same code, nothing new sent. Sign-in for **home** (oidc): open https://idp.example/device and enter the code `WDJB-MJHT` (it expires 2026-12-07 13:20 UTC); or open https://idp.example/device?user_code=WDJB-MJHT, which fills the code in. Sign in with your own account. Progress: `/auth home status`",
    );
    assert.equal(
      await reply("home status", {}, d.env),
      "Waiting for you. Sign-in for **home** (oidc): open https://idp.example/device and enter the code `WDJB-MJHT` (it expires 2026-12-07 13:20 UTC); or open https://idp.example/device?user_code=WDJB-MJHT, which fills the code in. Sign in with your own account.",
    );
  } finally {
    await d.close();
  }
});

test("/auth NAME status: done, failed, interrupted, or nothing under way", async () => {
  const d = await fakeDaemon({
    "GET /v1/login/work": {
      status: 200,
      body: { progress: "done", event: "signed_in", account: "work", provider: "microsoft", user: { name: "Ann Lee", email: null }, scopes: [], expires_at: null, warning: "granted beyond the ceiling: Mail.Send", exit_code: 0 },
    },
    "GET /v1/login/gh": {
      status: 200,
      body: { progress: "done", event: "failed", account: "gh", provider: "github", reason: "expired_token", message: "the code expired before anyone entered it", exit_code: 4 },
    },
    "GET /v1/login/home": { status: 200, body: { progress: "interrupted", event: "code", account: "home", provider: "google", scopes: [], user_code: "X", verification_uri: "https://accounts.google.com/device", expires_at: "2026-12-07T13:20:00Z", interval: 5 } },
    "GET /v1/login/old": { status: 200, body: { progress: "none" } },
    "GET /v1/status?account=old": { status: 200, body: { accounts: [STATUS.accounts[3]] } },
  });
  try {
    assert.equal(await reply("work status", {}, d.env), "Signed in to **work** as Ann Lee.\n⚠️ granted beyond the ceiling: Mail.Send");
    assert.equal(await reply("gh status", {}, d.env), "The sign-in for **gh** did not complete: the code expired before anyone entered it. Try again: `/auth gh`");
    assert.equal(await reply("home status", {}, d.env), "The sign-in for **home** was interrupted (the daemon stopped while it waited). Start a new one: `/auth home`");
    assert.equal(await reply("old status", {}, d.env), "No sign-in is under way for **old**. **old** (microsoft): must sign in again (was Ann): `/auth old`");
  } finally {
    await d.close();
  }
});

test("a code-flow sign-in: the link, then the pasted address goes to the daemon", async () => {
  const d = await fakeDaemon({
    "POST /v1/login": { status: 200, body: { event: "code", account: "drive", provider: "google", scopes: [], user_code: "", verification_uri: "https://accounts.google.com/o/oauth2/v2/auth?client_id=x&state=s", verification_uri_complete: null, expires_at: "2026-12-07T13:20:00Z", interval: 5, joined: false } },
    "POST /v1/login/drive/redirect": (body) => {
      assert.deepEqual(body, { url: "http://127.0.0.1:8765/callback?code=c&state=s" });
      return { status: 200, body: { event: "code", account: "drive", provider: "google", scopes: [], user_code: "", verification_uri: "x", expires_at: "2026-12-07T13:20:00Z", interval: 5 } };
    },
  });
  try {
    assert.equal(
      await reply("drive", {}, d.env),
      "Sign-in for **drive** (google): open https://accounts.google.com/o/oauth2/v2/auth?client_id=x&state=s and approve (it expires 2026-12-07 13:20 UTC). If the last page (http://127.0.0.1…) does not load, copy its whole address and send `/auth drive ADDRESS`. Progress: `/auth drive status`",
    );
    assert.equal(
      await reply("drive http://127.0.0.1:8765/callback?code=c&state=s", {}, d.env),
      "Got it: sidekey is finishing the sign-in for **drive**. Progress: `/auth drive status`",
    );
  } finally {
    await d.close();
  }
});

test("an account the daemon does not have is named with the ones it has", async () => {
  const d = await fakeDaemon({
    "POST /v1/login": noSuchAccount("nobody", ["work", "gh"]),
    "GET /v1/status": { status: 200, body: { accounts: STATUS.accounts.slice(0, 2) } },
  });
  try {
    assert.equal(await reply("nobody", {}, d.env), "⚠️ sidekey has no account nobody. Its accounts: work, gh. /auth lists them.");
  } finally {
    await d.close();
  }
});

test("a wrong key is named by its file, the key itself never", async () => {
  const d = await fakeDaemon({ "GET /v1/status": { status: 200, body: STATUS } });
  try {
    writeFileSync(d.keyFile, "not-the-daemons-key-0123456789\n");
    const text = await reply("", {}, d.env);
    assert.equal(
      text,
      `⚠️ The sidekey daemon at unix://${plain(d.socket)} refused the API key in ${plain(d.keyFile)} \\(wrong API key\\): that file must hold the key the daemon reads \\(its SIDEKEY\\_API\\_KEY\\_FILE; with the compose add-on, the sidekey\\_api\\_key secret\\).`,
    );
    assert.ok(!text.includes("not-the-daemons-key"));
    // The key is read at every request: a fixed file works at once.
    writeFileSync(d.keyFile, `${KEY}\n`);
    assert.match(await reply("", {}, d.env), /^sidekey accounts:/);
  } finally {
    await d.close();
  }
});

test("no daemon, no key file, no address: what is wrong and where", async (t) => {
  const d = await fakeDaemon({});
  const key = keyElsewhere();
  t.after(key.remove);
  const env = { ...d.env, SIDEKEY_API_KEY_FILE: key.file };
  await d.close();
  assert.equal(
    await reply("", {}, env),
    `⚠️ Cannot reach the sidekey daemon at unix://${plain(d.socket)}: there is no socket at ${plain(d.socket)}. Is the sidekey container running \\(docker compose ps sidekey\\) and the sidekey-socket volume mounted into the gateway?`,
  );
  assert.equal(
    await reply("", {}, {}),
    "⚠️ The sidekey plugin does not know where the daemon is: set SIDEKEY\\_URL \\(unix:///run/sidekey/sidekey.sock\\) in the gateway's environment, or plugins.entries.sidekey.config.socket.",
  );
  assert.equal(
    await reply("", {}, { SIDEKEY_URL: "unix:///run/sidekey/sidekey.sock" }),
    "⚠️ The sidekey plugin has no API key file: set SIDEKEY\\_API\\_KEY\\_FILE \\(/run/secrets/sidekey\\_api\\_key\\) in the gateway's environment, or plugins.entries.sidekey.config.apiKeyFile.",
  );
  assert.equal(
    await reply("", {}, { SIDEKEY_URL: "unix:///run/sidekey/sidekey.sock", SIDEKEY_API_KEY_FILE: "/nonexistent/api_key" }),
    "⚠️ Cannot read the sidekey API key file /nonexistent/api\\_key \\(SIDEKEY\\_API\\_KEY\\_FILE\\): there is no such file.",
  );
});

test("where the daemon is: config before environment, one address, no cleartext key", () => {
  const env = { SIDEKEY_URL: "unix:///from/env.sock", SIDEKEY_SOCKET: "/from/socket.sock", SIDEKEY_API_KEY_FILE: "/k" };
  assert.equal(resolveTarget({}, env).socket, "/from/env.sock");
  assert.equal(resolveTarget({}, { ...env, SIDEKEY_URL: "" }).socket, "/from/socket.sock");
  assert.equal(resolveTarget({ socket: "/cfg.sock" }, env).socket, "/cfg.sock");
  assert.equal(resolveTarget({ url: "http://127.0.0.1:7000" }, env).url?.port, "7000");
  assert.equal(resolveTarget({ apiKeyFile: "/cfg/key" }, env).keyFile, "/cfg/key");
  assert.throws(() => resolveTarget({ url: "unix:///a", socket: "/b" }, env), /both url and socket/);
  assert.throws(() => resolveTarget({ url: "unix://relative.sock" }, env), /absolute path/);
  // A password in the address is never repeated.
  assert.throws(
    () => resolveTarget({ url: "http://user:hunter22@sidekey:7000" }, env),
    (e) => e instanceof Error && e.message.includes("http://sidekey:7000") && !e.message.includes("hunter22"),
  );
  assert.throws(() => resolveTarget({ url: "ftp://user:hunter22@x" }, env), (e) => e instanceof Error && !e.message.includes("hunter22"));
  assert.equal(resolveTarget({ url: "http://sidekey:7000", allowPlainHttp: true }, env).shown, "http://sidekey:7000");
  assert.equal(resolveTarget({}, { ...env, SIDEKEY_URL: "http://sidekey:7000", SIDEKEY_ALLOW_PLAIN_HTTP: "1" }).shown, "http://sidekey:7000");
  assert.equal(resolveTarget({ url: "https://sidekey.internal" }, env).shown, "https://sidekey.internal");
});

test("words /auth does not take get the usage", async () => {
  assert.match(await reply("work now please", {}, {}), /^Usage: `\/auth` lists/);
  assert.match(await reply("Wörk", {}, {}), /^Wörk is not an account name/);
});

test("the entry registers /auth for OpenClaw, answered without the model", async () => {
  /** @type {any[]} */
  const registered = [];
  plugin.register({ registerCommand: (/** @type {any} */ c) => registered.push(c), pluginConfig: {} });
  assert.equal(registered.length, 1);
  const [c] = registered;
  assert.equal(c.name, "auth");
  assert.equal(c.acceptsArgs, true);
  assert.equal(c.requireAuth, true);
  assert.ok(c.description.length <= 256, "Telegram's limit on a command's description");
  assert.equal(typeof c.handler, "function");
});
