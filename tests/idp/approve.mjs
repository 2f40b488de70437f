#!/usr/bin/env node
// Headless "user in the browser" for tests/idp/server.mjs. No dependencies: Node's
// fetch, a small path-aware cookie jar, and redirects followed by hand (a 303 after
// a POST becomes a GET, as in a browser).
//
// CLI:
//   node approve.mjs --issuer URL --user-code CODE
//        [--action approve|deny-device|deny-consent|cancel-login]
//        [--verification-uri URI_COMPLETE] [--login USER] [--password PW]
// prints one JSON line {"outcome":...,"final_page":...,"ms":...,"steps":[...]} and
// exits 0 if the outcome matches the action, 2 if the code was rejected, 1 otherwise.
//
// Library:
//   import { approve } from './approve.mjs';
//   const r = await approve({ issuer, userCode, action: 'approve' });
//
// Outcomes: approved | denied | code-rejected | bad-credentials | error.
// The walker reacts to whatever page it is shown, so page order does not matter
// (e.g. a reused jar carries a session and login is skipped).

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const ACTIONS = ['approve', 'deny-device', 'deny-consent', 'cancel-login'];
const EXPECTED = {
  approve: 'approved', 'deny-device': 'denied', 'deny-consent': 'denied', 'cancel-login': 'denied',
};
const CODE_REJECTED = new Set(['NotFoundError', 'ExpiredError', 'AlreadyUsedError', 'NoCodeError']);

// ------------------------------------------------------------------ cookie jar

export class CookieJar {
  constructor() { this.cookies = new Map(); } // `${host}|${path}|${name}` -> cookie

  store(url, setCookieHeaders) {
    const u = new URL(url);
    for (const header of setCookieHeaders) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = null;
      let expires = Infinity;
      for (const attr of attrs) {
        const [k, ...rest] = attr.split('=');
        const key = k.trim().toLowerCase();
        const v = rest.join('=').trim();
        if (key === 'path' && v.startsWith('/')) path = v;
        else if (key === 'max-age') expires = Date.now() + Number(v) * 1000;
        else if (key === 'expires' && expires === Infinity) {
          const t = Date.parse(v);
          if (!Number.isNaN(t)) expires = t;
        }
      }
      if (path === null) { // RFC 6265 default-path
        const dir = u.pathname.slice(0, u.pathname.lastIndexOf('/'));
        path = dir || '/';
      }
      const key = `${u.host}|${path}|${name}`;
      if (expires <= Date.now()) this.cookies.delete(key);
      else this.cookies.set(key, { host: u.host, path, name, value, expires });
    }
  }

  header(url) {
    const u = new URL(url);
    const now = Date.now();
    const matches = [];
    for (const [key, c] of this.cookies) {
      if (c.expires <= now) { this.cookies.delete(key); continue; }
      if (c.host !== u.host) continue;
      const p = u.pathname;
      const pathOk = p === c.path
        || (p.startsWith(c.path) && (c.path.endsWith('/') || p[c.path.length] === '/'));
      if (pathOk) matches.push(c);
    }
    matches.sort((a, b) => b.path.length - a.path.length); // longer paths first
    return matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

// ---------------------------------------------------------------- HTML parsing

function decode(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
    const k = e.toLowerCase();
    if (k === 'amp') return '&';
    if (k === 'lt') return '<';
    if (k === 'gt') return '>';
    if (k === 'quot') return '"';
    if (k === 'apos') return "'";
    if (k.startsWith('#x')) return String.fromCodePoint(parseInt(k.slice(2), 16));
    return String.fromCodePoint(parseInt(k.slice(1), 10));
  });
}

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([\w.:-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out[m[1].toLowerCase()] = decode(m[3] ?? m[4] ?? '');
  }
  return out;
}

function forms(html) {
  const list = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attrs(m[1]);
    const fields = {};
    for (const i of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const ia = attrs(i[1]);
      if (ia.name) fields[ia.name] = ia.value ?? '';
    }
    list.push({
      id: a.id, action: a.action, method: (a.method || 'get').toLowerCase(), fields,
    });
  }
  return list;
}

const dataState = (html, id) => {
  const m = new RegExp(`<[^>]*\\bid="${id}"[^>]*>`).exec(html);
  return m ? attrs(m[0])['data-state'] : undefined;
};

// ------------------------------------------------------------------- the walk

export async function approve({
  issuer,
  userCode,
  action = 'approve',
  verificationUri,
  login = 'alice',
  password = 'wonderland',
  jar = new CookieJar(),
  maxSteps = 25,
} = {}) {
  if (!ACTIONS.includes(action)) throw new TypeError(`unknown action ${action}`);
  if (!issuer && !verificationUri) throw new TypeError('issuer or verificationUri is required');
  if (!userCode && !verificationUri) throw new TypeError('userCode or verificationUri is required');
  const t0 = performance.now();
  const steps = [];
  const done = (outcome, finalPage, detail) => ({
    outcome,
    final_page: finalPage,
    ms: Math.round(performance.now() - t0),
    ...(detail ? { detail } : {}),
    steps,
  });

  async function request(method, url, form) {
    const headers = { accept: 'text/html' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    jar.store(url, res.headers.getSetCookie());
    const text = await res.text();
    steps.push({ method, path: new URL(url).pathname, status: res.status });
    return { status: res.status, location: res.headers.get('location'), url, text };
  }

  let loginSubmitted = false;
  let codeSubmitted = false;
  let res;
  if (verificationUri) {
    // verification_uri_complete answers with a self-submitting form (needs JS;
    // there is a <noscript> fallback). Parse it and post it like a browser would.
    res = await request('GET', verificationUri);
  } else {
    res = await request('GET', new URL('/device', issuer).href);
  }

  for (let i = 0; i < maxSteps; i += 1) {
    const { status, text, url } = res;

    if ([301, 302, 303, 307, 308].includes(status)) {
      if (!res.location) return done('error', `redirect-${status}-without-location`);
      res = await request('GET', new URL(res.location, url).href);
      continue;
    }
    if (status !== 200) {
      return done('error', dataState(text, 'error-page') ? `error:${dataState(text, 'error-page')}` : `http-${status}`,
        text.slice(0, 300));
    }

    const pageForms = forms(text);
    const byId = (id) => pageForms.find((f) => f.id === id);
    const post = (form, extra = {}) => request('POST', new URL(form.action || url, url).href, { ...form.fields, ...extra });

    if (/\bid="device-success"/.test(text)) return done('approved', 'device-success');

    const codeState = dataState(text, 'device-code-page');
    if (codeState !== undefined) {
      if (codeState === 'AbortedError') return done('denied', 'AbortedError');
      if (CODE_REJECTED.has(codeState)) return done('code-rejected', codeState);
      if (codeState !== 'input') return done('error', codeState);
      if (codeSubmitted) return done('error', 'device-code-input-again');
      const input = byId('op.deviceInputForm');
      if (!input) return done('error', 'device-code-without-form');
      codeSubmitted = true;
      res = await post(input, { user_code: userCode });
      continue;
    }

    const confirm = byId('op.deviceConfirmForm');
    if (confirm) {
      codeSubmitted = true;
      res = await post(confirm, action === 'deny-device' ? { abort: 'yes' } : {});
      continue;
    }

    const loginForm = byId('login-form');
    if (loginForm) {
      if (/\bid="login-error"/.test(text) && loginSubmitted) return done('bad-credentials', 'login-error');
      if (action === 'cancel-login') {
        res = await post(byId('cancel-form'));
        continue;
      }
      loginSubmitted = true;
      res = await post(loginForm, { login, password });
      continue;
    }

    const consentForm = byId('consent-form');
    if (consentForm) {
      res = await post(action === 'deny-consent' ? byId('deny-form') : consentForm);
      continue;
    }

    // Self-submitting form_post page (verification_uri_complete) or any other
    // single auto-posting form.
    if (/<title>Submitting Callback<\/title>/.test(text) && pageForms.length === 1 && pageForms[0].method === 'post') {
      codeSubmitted = true;
      res = await post(pageForms[0]);
      continue;
    }

    const err = dataState(text, 'error-page');
    return done('error', err ? `error:${err}` : 'unrecognised-page', text.slice(0, 300));
  }
  return done('error', 'too-many-steps');
}

// ------------------------------------------------------------------------ CLI

function parseArgs(argv) {
  const opts = {};
  const names = {
    '--issuer': 'issuer',
    '--user-code': 'userCode',
    '--action': 'action',
    '--verification-uri': 'verificationUri',
    '--login': 'login',
    '--password': 'password',
  };
  for (let i = 0; i < argv.length; i += 1) {
    let [flag, value] = argv[i].split(/=(.*)/s);
    if (flag === '-h' || flag === '--help') return { help: true };
    if (!(flag in names)) throw new Error(`unknown argument ${argv[i]}`);
    if (value === undefined) {
      i += 1;
      value = argv[i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
    }
    opts[names[flag]] = value;
  }
  return opts;
}

const USAGE = `usage: node approve.mjs --issuer URL --user-code CODE
       [--action approve|deny-device|deny-consent|cancel-login]
       [--verification-uri VERIFICATION_URI_COMPLETE] [--login USER] [--password PW]`;

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
    if (opts.help) { console.log(USAGE); return 0; }
    if (!opts.issuer && !opts.verificationUri) throw new Error('--issuer is required');
    if (!opts.userCode && !opts.verificationUri) throw new Error('--user-code is required');
    if (opts.action && !ACTIONS.includes(opts.action)) throw new Error(`unknown --action ${opts.action}`);
  } catch (err) {
    console.error(`approve.mjs: ${err.message}\n${USAGE}`);
    return 1;
  }
  const action = opts.action || 'approve';
  let result;
  try {
    result = await approve({ ...opts, action });
  } catch (err) {
    result = { outcome: 'error', final_page: null, ms: null, detail: String(err?.cause?.message || err?.message || err) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (result.outcome === EXPECTED[action]) return 0;
  if (result.outcome === 'code-rejected') return 2;
  return 1;
}

const invokedDirectly = (() => {
  try { return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href; } catch { return false; }
})();
if (invokedDirectly) process.exitCode = await main();
