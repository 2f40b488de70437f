// @ts-check
/**
 * `/auth`, answered without the model:
 *
 * | the person sends      | the daemon is asked           | the reply                                   |
 * |-----------------------|-------------------------------|---------------------------------------------|
 * | `/auth`               | `GET /v1/status`              | every account: who, until when, what to do  |
 * | `/auth NAME`          | `POST /v1/login`              | "the code was sent to you", or code and link |
 * | `/auth NAME status`   | `GET /v1/login/NAME`          | waiting, signed in as whom, or why it failed |
 * | `/auth NAME ADDRESS`  | `POST /v1/login/NAME/redirect`| a code-flow sign-in's last address, pasted   |
 *
 * The daemon decides whether this chat sees the code: with a channel configured it sends the
 * code to the person there and withholds it here (`sent_to`), unless the account's policy says
 * `show_code_to_agent` (docs/sidecar.md, "Who the account is").
 */

import { call, DaemonError } from "./daemon.js";
import { accountLine, channels, cmd, plain, when, who } from "./text.js";

/** What an account name may be (sidekey's vault: `check_name`). */
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const USAGE =
  "Usage: `/auth` lists sidekey's accounts · `/auth NAME` signs in · `/auth NAME status` shows how the sign-in is going.";

/**
 * The reply to `/auth ARGS`.
 *
 * @param {string | undefined} args what follows `/auth`
 * @param {() => import("./daemon.js").Target} target where the daemon is, resolved only when
 *   the words ask the daemon something
 * @returns {Promise<string>}
 */
export async function auth(args, target) {
  const what = parse(args);
  switch (what.kind) {
    case "list":
      return list(target());
    case "start":
      return start(target(), what.name);
    case "status":
      return progress(target(), what.name);
    case "paste":
      return paste(target(), what.name, what.url);
    default:
      return what.text;
  }
}

/**
 * What `/auth ARGS` asks for; words it does not take get the usage (without asking the daemon).
 * @param {string | undefined} args
 * @returns {{kind: "list"} | {kind: "start" | "status", name: string} | {kind: "paste", name: string, url: string} | {kind: "usage", text: string}}
 */
export function parse(args) {
  const words = (args ?? "").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return { kind: "list" };
  const name = words[0].toLowerCase();
  if (!NAME.test(name)) {
    return { kind: "usage", text: `${plain(words[0], 64)} is not an account name (lowercase letters, digits, - and _). ${USAGE}` };
  }
  if (words.length === 1) return { kind: "start", name };
  if (words.length === 2 && words[1].toLowerCase() === "status") return { kind: "status", name };
  if (words.length === 2 && /^https?:\/\//i.test(words[1])) return { kind: "paste", name, url: words[1] };
  return { kind: "usage", text: USAGE };
}

/** `/auth`: every account and its state. @param {import("./daemon.js").Target} t */
async function list(t) {
  const status = await call(t, "GET", "/v1/status");
  const accounts = Array.isArray(status?.accounts) ? status.accounts : [];
  if (accounts.length === 0) {
    return "sidekey has no accounts: add them to its config.toml on the daemon's side (docs/config.md).";
  }
  return ["sidekey accounts:", ...accounts.map((a) => `- ${accountLine(a)}`)].join("\n");
}

/**
 * `/auth NAME`: start (or join) a sign-in. The daemon polls the provider; the person signs in.
 * @param {import("./daemon.js").Target} t
 * @param {string} name
 */
async function start(t, name) {
  let started;
  try {
    started = await call(t, "POST", "/v1/login", { account: name });
  } catch (e) {
    throw await explain(t, name, e);
  }
  return codeText(name, started, { joined: started?.joined === true, follow: true });
}

/**
 * The reply for a code event (`LoginStarted`, or a pending `LoginProgress`): where the code went,
 * or the code and link themselves.
 * @param {string} name
 * @param {any} ev
 * @param {{joined: boolean, follow: boolean}} how `joined`: an earlier sign-in was joined;
 *   `follow`: end with the command that shows progress
 */
function codeText(name, ev, { joined, follow: withFollow }) {
  const provider = plain(ev?.provider ?? "", 30);
  const label = `**${plain(name, 64)}**${provider ? ` (${provider})` : ""}`;
  const expires = when(ev?.expires_at);
  const until = expires ? ` (it expires ${expires})` : "";
  const follow = withFollow ? ` Progress: \`/auth ${name} status\`` : "";
  const already = joined ? "A sign-in for this account was already under way: same code, nothing new sent. " : "";
  const sentTo = channels(ev?.sent_to);
  if (sentTo) {
    return `${already}Sign-in for ${label}: the code and its link were sent to you on ${sentTo}${until}. Open them there and sign in with your own account.${follow}`;
  }
  const link = typeof ev?.verification_uri === "string" ? ev.verification_uri : "";
  const code = typeof ev?.user_code === "string" ? ev.user_code : "";
  const complete = typeof ev?.verification_uri_complete === "string" ? ev.verification_uri_complete : "";
  if (code && link) {
    const direct = complete ? `; or open ${bare(complete)}, which fills the code in` : "";
    return `${already}Sign-in for ${label}: open ${bare(link)} and enter the code ${codeSpan(code)}${until}${direct}. Sign in with your own account.${follow}`;
  }
  if (link) {
    return `${already}Sign-in for ${label}: open ${bare(link)} and approve${until}. If the last page (http://127.0.0.1…) does not load, copy its whole address and send \`/auth ${name} ADDRESS\`.${follow}`;
  }
  return `${already}Sign-in for ${label} started${until}.${follow}`;
}

/**
 * A user code in a code span (Markdown does not unescape inside one, so only a plain code goes
 * there: letters, digits and `-`, as providers issue them); anything else as plain text.
 * @param {string} code
 */
function codeSpan(code) {
  return /^[A-Za-z0-9-]{1,40}$/.test(code) ? `\`${code}\`` : plain(code, 40);
}

/**
 * A link from the daemon as a bare URL (the channel makes it clickable). The daemon checked it
 * came from the provider; here it must be one http(s) URL with nothing Markdown reads in it.
 * @param {string} url
 */
function bare(url) {
  const ok = /^https?:\/\/[^\s<>()[\]`*|\\]+$/i.test(url);
  return ok ? url : `‹${plain(url, 300)}›`;
}

/**
 * `/auth NAME status`: how the sign-in stands.
 * @param {import("./daemon.js").Target} t
 * @param {string} name
 */
async function progress(t, name) {
  let p;
  try {
    p = await call(t, "GET", `/v1/login/${encodeURIComponent(name)}`);
  } catch (e) {
    throw await explain(t, name, e);
  }
  switch (p?.progress) {
    case "pending":
      return `Waiting for you. ${codeText(name, p, { joined: false, follow: false })}`;
    case "interrupted":
      return `The sign-in for **${plain(name, 64)}** was interrupted (the daemon stopped while it waited). Start a new one: ${cmd(name)}`;
    case "done":
      return outcome(name, p);
    default: {
      const status = await call(t, "GET", `/v1/status?account=${encodeURIComponent(name)}`);
      const a = Array.isArray(status?.accounts) ? status.accounts.find((x) => x?.name === name) : undefined;
      return `No sign-in is under way for **${plain(name, 64)}**.${a ? ` ${accountLine(a)}` : ""}`;
    }
  }
}

/**
 * A finished sign-in (`LoginProgress::Done`): signed in as whom, or why not.
 * @param {string} name
 * @param {any} p
 */
function outcome(name, p) {
  const label = `**${plain(name, 64)}**`;
  if (p.event === "signed_in") {
    const user = who(p.user);
    const warning = typeof p.warning === "string" && p.warning.trim() ? `\n⚠️ ${plain(p.warning)}` : "";
    return `Signed in to ${label}${user ? ` as ${user}` : ""}.${warning}`;
  }
  const why = plain(p.message || p.reason || "no reason given");
  return `The sign-in for ${label} did not complete: ${why}. Try again: ${cmd(name)}`;
}

/**
 * `/auth NAME ADDRESS`: the address a code-flow sign-in's browser ended on. It is useless
 * without the verifier the daemon keeps; the daemon takes it only for a sign-in started from
 * this side (docs/security.md, "Redirects and who may cancel").
 * @param {import("./daemon.js").Target} t
 * @param {string} name
 * @param {string} url
 */
async function paste(t, name, url) {
  try {
    await call(t, "POST", `/v1/login/${encodeURIComponent(name)}/redirect`, { url });
  } catch (e) {
    throw await explain(t, name, e);
  }
  return `Got it: sidekey is finishing the sign-in for **${plain(name, 64)}**. Progress: \`/auth ${name} status\``;
}

/**
 * A refusal about account `name`, in the person's terms: an account the daemon does not have
 * is named with the ones it has (asked again, as the daemon's own message names its config
 * file's path).
 * @param {import("./daemon.js").Target} t
 * @param {string} name
 * @param {unknown} e
 */
async function explain(t, name, e) {
  if (!(e instanceof DaemonError) || e.kind !== "api" || e.failure?.exit_code !== 2) return e;
  let names;
  try {
    const status = await call(t, "GET", "/v1/status");
    names = (Array.isArray(status?.accounts) ? status.accounts : []).map((a) => String(a?.name ?? ""));
  } catch {
    return e;
  }
  if (names.includes(name)) return e;
  const known = names.length ? `Its accounts: ${names.join(", ")}.` : "It has no accounts.";
  return new DaemonError("account", `sidekey has no account ${name}. ${known} /auth lists them.`, e.failure);
}

/**
 * A failure as the person reads it: the daemon's refusals as it words them, this side's
 * troubles (no daemon, wrong key) with the fix.
 * @param {unknown} e
 */
export function failureText(e) {
  if (e instanceof DaemonError) {
    return `⚠️ ${e.kind === "api" ? "sidekey refused: " : ""}${plain(e.message, 600)}`;
  }
  return `⚠️ The sidekey plugin failed: ${plain(e instanceof Error ? e.message : e)}`;
}
