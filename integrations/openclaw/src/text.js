// @ts-check
/**
 * The words `/auth` answers with, built from the daemon's answers field by field: only the
 * fields named here reach the chat, so nothing else the daemon might add ever does.
 *
 * OpenClaw treats a command's reply as Markdown and renders it per channel (Telegram: its HTML;
 * WebChat: Markdown). Text that someone else chose (a user's name from the provider, a note or
 * a failure message) goes through [`plain`] first, so it cannot turn into a link, a tag or
 * formatting (docs/openclaw-setup.md, "What a reply may show").
 */

/** Markdown's inline punctuation (emphasis, code, links, images, tables, strikethrough,
 * entities), escaped with a backslash in text someone else chose. */
const MARKDOWN = /[\\`*_[\]()!|~&]/g;
/** Controls, bidi overrides and isolates, zero-width characters, line and paragraph separators. */
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * `s` as one line of plain text inside a Markdown reply: no hidden characters, at most `max`
 * characters, Markdown's inline punctuation escaped, and `<` `>` as the look-alikes `‹` `›`
 * (OpenClaw's Telegram renderer keeps `<b>` as markup even when it is escaped).
 *
 * @param {unknown} s
 * @param {number} [max]
 */
export function plain(s, max = 300) {
  let t = String(s ?? "").replace(HIDDEN, " ").replace(/\s+/g, " ").trim();
  if ([...t].length > max) t = `${[...t].slice(0, max - 1).join("")}…`;
  return t.replace(/</g, "‹").replace(/>/g, "›").replace(MARKDOWN, (c) => `\\${c}`);
}

/**
 * An RFC 3339 time from the daemon as `2026-12-07 14:05 UTC`; anything else as plain text.
 * @param {unknown} rfc3339
 */
export function when(rfc3339) {
  if (typeof rfc3339 !== "string" || !rfc3339) return "";
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return plain(rfc3339, 40);
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * Who signed in (`{name, email}` from the provider), or `null`.
 * @param {unknown} user
 */
export function who(user) {
  if (!user || typeof user !== "object") return null;
  const u = /** @type {{name?: unknown, email?: unknown}} */ (user);
  const name = typeof u.name === "string" && u.name.trim() ? plain(u.name, 100) : "";
  const email = typeof u.email === "string" && u.email.trim() ? plain(u.email, 100) : "";
  if (name && email) return `${name} (${email})`;
  return name || email || null;
}

/** An account name as a command shows it (names are `[a-z0-9][a-z0-9_-]*`). @param {string} name */
export function cmd(name) {
  return `\`/auth ${name}\``;
}

/**
 * One account of `GET /v1/status` as a line: its state, who, until when, and the command that
 * moves it on.
 *
 * @param {any} a an `AccountStatus`
 */
export function accountLine(a) {
  const name = String(a?.name ?? "");
  const head = `**${plain(name, 64)}** (${plain(a?.provider ?? "?", 30)})`;
  const user = who(a?.user);
  const until = when(a?.expires_at);
  let state;
  switch (a?.state) {
    case "signed_in":
      state = `signed in${user ? ` as ${user}` : ""}${until ? `; token until ${until}` : ""}`;
      break;
    case "pending":
      state = `waiting for you to sign in${until ? ` (the code expires ${until})` : ""}; progress: \`/auth ${name} status\``;
      break;
    case "reauth_required":
      state = `must sign in again${user ? ` (was ${user})` : ""}: ${cmd(name)}`;
      break;
    case "signed_out":
      state = `not signed in: ${cmd(name)}`;
      break;
    case "damaged":
      state = "its stored sign-in cannot be read (see the note; sidekey doctor on the daemon's side)";
      break;
    default:
      state = plain(a?.state ?? "unknown state", 40);
  }
  const note = typeof a?.note === "string" && a.note.trim() ? ` — ${plain(a.note)}` : "";
  return `${head}: ${state}${note}`;
}

/**
 * The channels a code went to, as words (`telegram`, `telegram and ntfy`).
 * @param {unknown} sentTo
 */
export function channels(sentTo) {
  const list = Array.isArray(sentTo) ? sentTo.map((c) => plain(c, 30)).filter(Boolean) : [];
  if (list.length <= 1) return list.join("");
  return `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
}
