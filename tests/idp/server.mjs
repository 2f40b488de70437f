// Loopback RFC 8628 device-flow authorization server for sidekey's tests.
//
// The protocol is panva's oidc-provider (pinned in package.json); this file only
// adds the glue the library leaves to its host: one test account, plain login and
// consent pages, an ephemeral signing key, and two optional RFC 8628 §3.5 shims
// (`interval` in the device authorization response, and `slow_down`) that the
// library does not implement itself.
//
// Configuration is by environment variable; see README.md. On start it prints
// exactly one JSON line to stdout:
//   {"ready":true,"issuer":"http://127.0.0.1:PORT","port":PORT,"pid":PID}
// Everything else (library warnings, LOG=1 request lines) goes to stderr.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

const startedAt = performance.now();

// oidc-provider prints its notices with console.info, i.e. to stdout. Keep stdout
// for the single "ready" line: route console.log/info to stderr *before* the
// library is imported (hence the dynamic import below).
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

// ---------------------------------------------------------------- configuration

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`server.mjs: ${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(64);
  }
  return value;
}

const HOST = process.env.HOST || '127.0.0.1';
const PORT = intEnv('PORT', 4480);
const DEVICE_CODE_TTL = intEnv('DEVICE_CODE_TTL', 600);
const SHORT_TTL = intEnv('SHORT_TTL', 5);
const POLL_INTERVAL = intEnv('POLL_INTERVAL', 1);
const EXPIRED_GRACE = intEnv('EXPIRED_GRACE', 120);
const ACCESS_TOKEN_TTL = intEnv('ACCESS_TOKEN_TTL', 3600);
const REFRESH_TOKEN_TTL = intEnv('REFRESH_TOKEN_TTL', 86400);
const ID_TOKEN_TTL = intEnv('ID_TOKEN_TTL', 3600);
const TEST_USER = process.env.TEST_USER || 'alice';
const TEST_PASSWORD = process.env.TEST_PASSWORD || 'wonderland';
const CONFORM_ID_TOKEN_CLAIMS = process.env.CONFORM_ID_TOKEN_CLAIMS !== '0';
const LOG = process.env.LOG === '1';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'api:read', 'api:write'];
const CLIENT_IDS = ['device-client', 'device-client-short'];

const ACCOUNT_CLAIMS = {
  sub: TEST_USER,
  name: 'Alice Liddell',
  email: 'alice@example.test',
  email_verified: true,
  preferred_username: TEST_USER,
};

// -------------------------------------------------------------------- helpers

const esc = (value) => String(value)
  .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  .replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:28em;margin:2em auto;padding:0 1em}'
  + 'input,button{font-size:1em;margin:.25em 0;padding:.4em;display:block;width:100%;box-sizing:border-box}'
  + '.error{color:#b00020}code{font-size:1.6em}';

// All pages are self-contained: no external stylesheets, fonts or scripts.
function page(pageId, title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body data-page="${esc(pageId)}">
<h1>${esc(title)}</h1>
${body}
</body>
</html>
`;
}

// Code-entry page states, as `data-state` on <main id="device-code-page">:
//   input (no error) | NoCodeError | NotFoundError | ExpiredError |
//   AlreadyUsedError | AbortedError | <other error name, e.g. InvalidRequest>
async function userCodeInputSource(ctx, form, out, err) {
  const state = err ? (err.name || 'Error') : 'input';
  let message;
  switch (state) {
    case 'input': message = 'Enter the code displayed on your device.'; break;
    case 'NoCodeError': message = 'Please enter a code.'; break;
    case 'NotFoundError': message = 'The code was not found. Check it and try again.'; break;
    case 'ExpiredError': message = 'The code has expired. Start again on your device.'; break;
    case 'AlreadyUsedError': message = 'The code has already been used.'; break;
    case 'AbortedError': message = 'The sign-in request was cancelled. You can close this page.'; break;
    default: message = `There was an error processing your request${out?.error ? ` (${out.error})` : ''}.`;
  }
  ctx.type = 'html';
  ctx.body = page('device-code', 'Device sign-in', `<main id="device-code-page" data-state="${esc(state)}">
<p id="device-message"${err ? ' class="error"' : ''}>${esc(message)}</p>
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>
</main>`);
}

async function userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
  ctx.type = 'html';
  ctx.body = page('device-confirm', 'Confirm device', `<main id="device-confirm-page" data-state="confirm">
<p><strong>${esc(client.clientName || client.clientId)}</strong> is asking to sign in.
Check that your device shows this code:</p>
<p><code id="user-code">${esc(userCode)}</code></p>
${form}
<button type="submit" form="op.deviceConfirmForm" id="device-confirm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" id="device-abort">Abort</button>
</main>`);
}

async function successSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('device-success', 'Sign-in successful', `<main id="device-success" data-state="success">
<p>Your device is now signed in. You can close this page.</p>
</main>`);
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('error', 'Something went wrong', `<main id="error-page" data-state="${esc(out.error)}">
<p class="error"><strong>${esc(out.error)}</strong>: ${esc(out.error_description || '')}</p>
</main>`);
}

async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('logout', 'Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('logout-success', 'Signed out', '<p>You have been signed out.</p>');
}

function loginPage(uid, { error, login } = {}) {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  return page('login', 'Sign in', `<main id="login-page" data-state="${error ? 'error' : 'login'}">
${error ? `<p id="login-error" class="error">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="${action}/login">
<label>Username <input type="text" name="login" value="${esc(login || '')}" autocomplete="username" autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<form id="cancel-form" method="post" action="${action}/abort">
<button type="submit">Cancel</button>
</form>
</main>`);
}

function consentPage(uid, clientId, scopes) {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  const items = scopes.map((s) => `<li data-scope="${esc(s)}">${esc(s)}</li>`).join('');
  return page('consent', 'Authorize', `<main id="consent-page" data-state="consent">
<p><strong>${esc(clientId)}</strong> asks for access to your account (${esc(TEST_USER)}):</p>
<ul id="consent-scopes">${items}</ul>
<form id="consent-form" method="post" action="${action}/confirm">
<button type="submit">Allow</button>
</form>
<form id="deny-form" method="post" action="${action}/abort">
<button type="submit">Deny</button>
</form>
</main>`);
}

function interactionErrorPage(message) {
  return page('error', 'Something went wrong', `<main id="error-page" data-state="InteractionError">
<p class="error">${esc(message)}</p>
</main>`);
}

async function readForm(req, limit = 64 * 1024) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

// ------------------------------------------------------------------- start-up

// Listen first so that PORT=0 yields the real port for the issuer URL.
const server = http.createServer();
server.keepAliveTimeout = 5000;
try {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORT, HOST, () => { server.off('error', reject); resolve(); });
  });
} catch (err) {
  console.error(`server.mjs: cannot listen on ${HOST}:${PORT}: ${err.code || err.message}`);
  process.exit(1);
}
const { port } = server.address();
const urlHost = HOST.includes(':') ? `[${HOST}]` : HOST;
const ISSUER = process.env.ISSUER || `http://${urlHost}:${port}`;

const [{ default: Provider, errors }, signingKey] = await Promise.all([
  import('oidc-provider'),
  new Promise((resolve, reject) => {
    crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (err, _pub, priv) => (err ? reject(err) : resolve(priv)));
  }),
]);

const jwk = {
  ...signingKey.export({ format: 'jwk' }),
  kid: `test-${crypto.randomBytes(4).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

const configuration = {
  clients: CLIENT_IDS.map((clientId) => ({
    client_id: clientId,
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  })),
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: SCOPES,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: CONFORM_ID_TOKEN_CLAIMS,
  // The in-memory adapter evicts records at exp + clockTolerance. Keeping expired
  // device codes around for EXPIRED_GRACE seconds is what lets a late poll get
  // `expired_token` instead of an opaque `invalid_grant`.
  clockTolerance: EXPIRED_GRACE,
  async findAccount(ctx, sub) {
    if (sub !== TEST_USER) return undefined;
    return {
      accountId: TEST_USER,
      async claims() { return { ...ACCOUNT_CLAIMS }; },
    };
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: {
      enabled: true,
      userCodeInputSource,
      userCodeConfirmSource,
      successSource,
    },
    revocation: {
      enabled: true,
      // Library default rule, minus its notice: a client may only revoke its own tokens.
      allowedPolicy: async (ctx, client, token) => {
        if (token.clientId === client.clientId) return true;
        if (client.clientAuthMethod === 'none') return false;
        throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
      },
    },
    introspection: {
      enabled: true,
      // Same rule as the library default, without its "you SHOULD change" notice:
      // a public client may only introspect its own tokens.
      allowedPolicy: async (ctx, client, token) => !(client.clientAuthMethod === 'none'
        && token.clientId !== ctx.oidc.client.clientId),
    },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
  },
  renderError,
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    IdToken: ID_TOKEN_TTL,
    RefreshToken: REFRESH_TOKEN_TTL,
    Interaction: 3600,
    Session: 86400,
    Grant: Math.max(REFRESH_TOKEN_TTL, 86400),
    DeviceCode: (ctx, deviceCode, client) => (client?.clientId === 'device-client-short' ? SHORT_TTL : DEVICE_CODE_TTL),
  },
};

const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));

// RFC 8628 §3.5 shims (POLL_INTERVAL=0 turns both off, leaving the bare library).
if (POLL_INTERVAL > 0) {
  const lastPoll = new Map(); // device_code -> ms timestamp of its previous poll
  const forgetAfterMs = (Math.max(DEVICE_CODE_TTL, SHORT_TTL) + EXPIRED_GRACE + 60) * 1000;
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route === 'device_authorization' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body = { ...ctx.body, interval: POLL_INTERVAL };
      return;
    }
    if (route !== 'token' || ctx.oidc.params?.grant_type !== DEVICE_GRANT) return;
    const deviceCode = ctx.oidc.params.device_code;
    if (typeof deviceCode !== 'string' || !deviceCode) return;
    const now = Date.now();
    const previous = lastPoll.get(deviceCode);
    lastPoll.set(deviceCode, now);
    if (lastPoll.size > 1000) {
      for (const [key, at] of lastPoll) if (now - at > forgetAfterMs) lastPoll.delete(key);
    }
    if (previous !== undefined && now - previous < POLL_INTERVAL * 1000
      && ctx.status === 400 && ctx.body?.error === 'authorization_pending') {
      const slowDown = new errors.SlowDown();
      ctx.body = { error: slowDown.error, error_description: slowDown.error_description };
    }
  });
}

// ------------------------------------------------------- interaction routes
// Login and consent pages (the library's devInteractions are disabled).

async function handleInteraction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    sendHtml(res, 400, interactionErrorPage(`interaction session not found or expired (${err.message})`));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, interactionErrorPage('interaction mismatch'));
    return;
  }
  const { prompt, params, session } = details;

  if (req.method === 'GET' && action === '') {
    if (prompt.name === 'login') {
      sendHtml(res, 200, loginPage(uid));
    } else if (prompt.name === 'consent') {
      const requested = String(params.scope || '').split(' ').filter(Boolean);
      sendHtml(res, 200, consentPage(uid, params.client_id, requested));
    } else {
      sendHtml(res, 501, interactionErrorPage(`unsupported prompt ${prompt.name}`));
    }
    return;
  }

  if (req.method !== 'POST') {
    sendHtml(res, 405, interactionErrorPage('method not allowed'));
    return;
  }
  const form = await readForm(req);

  switch (action) {
    case 'login': {
      if (prompt.name !== 'login') {
        sendHtml(res, 400, interactionErrorPage(`expected prompt login, current prompt is ${prompt.name}`));
        return;
      }
      const login = form.get('login') || '';
      const password = form.get('password') || '';
      if (login !== TEST_USER || password !== TEST_PASSWORD) {
        sendHtml(res, 200, loginPage(uid, { error: 'Invalid username or password.', login }));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: TEST_USER } }, { mergeWithLastSubmission: false });
      return;
    }
    case 'confirm': {
      if (prompt.name !== 'consent') {
        sendHtml(res, 400, interactionErrorPage(`expected prompt consent, current prompt is ${prompt.name}`));
        return;
      }
      const { details: missing } = prompt;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      if (missing.missingResourceScopes) {
        for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
          grant.addResourceScope(indicator, scope.join(' '));
        }
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    case 'abort': {
      // "Deny" on the consent page and "Cancel" on the login page.
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'End-User denied the authorization request',
      }, { mergeWithLastSubmission: false });
      return;
    }
    default:
      sendHtml(res, 404, interactionErrorPage('not found'));
  }
}

const providerCallback = provider.callback();
const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?\/?$/;

server.on('request', (req, res) => {
  if (LOG) {
    const t0 = performance.now();
    res.on('finish', () => {
      console.error(`[idp] ${req.method} ${req.url} -> ${res.statusCode} (${(performance.now() - t0).toFixed(1)} ms)`);
    });
  }
  const path = (req.url || '/').split('?')[0];
  const match = INTERACTION_PATH.exec(path);
  if (match) {
    handleInteraction(req, res, match[1], match[2] || '').catch((err) => {
      console.error('[idp] interaction error:', err);
      if (!res.headersSent) sendHtml(res, 500, interactionErrorPage('internal error'));
      else res.end();
    });
    return;
  }
  providerCallback(req, res);
});

// ------------------------------------------------------------------ shutdown

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  if (LOG) console.error(`[idp] ${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

process.stdout.write(`${JSON.stringify({
  ready: true, issuer: ISSUER, port, pid: process.pid,
})}\n`);
if (LOG) console.error(`[idp] ready in ${(performance.now() - startedAt).toFixed(0)} ms at ${ISSUER}`);
