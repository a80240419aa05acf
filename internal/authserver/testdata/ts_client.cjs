// Drives mcpgate's authorization server with the official TypeScript MCP SDK client:
// 401 → PRM → AS metadata → DCR → authorize (login + consent over HTTP, headless) →
// code + PKCE → token → tools/call; then a refresh through the SDK and a replay of the
// old refresh token. Prints one JSON object with the results.
//
// Usage: NODE_MODULES_DIR=test/node/node_modules [CIMD_URL=<https document URL>] node ts_client.cjs <mcp url> <user> <password>
const { createRequire } = require('node:module');
const req = createRequire(process.env.NODE_MODULES_DIR + '/');
const { Client } = req('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = req('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { UnauthorizedError, auth } = req('@modelcontextprotocol/sdk/client/auth.js');

const [mcpURL, username, password] = process.argv.slice(2);
const redirectUrl = 'http://127.0.0.1:5599/callback';

class MemoryProvider {
  constructor() { this._tokens = undefined; this._client = undefined; this._verifier = undefined; this.authURL = undefined; this.savedTokens = []; }
  get redirectUrl() { return redirectUrl; }
  // CIMD_URL, when set, is the client's metadata document: the SDK then uses it as client_id
  // (no registration) when the authorization server supports client ID metadata documents.
  get clientMetadataUrl() { return process.env.CIMD_URL || undefined; }
  get clientMetadata() {
    return { client_name: 'TypeScript SDK e2e', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; this.savedTokens.push(t); }
  redirectToAuthorization(url) { this.authURL = url; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
}

// A tiny headless "browser": keeps cookies, follows redirects, fills the login and
// consent forms, and stops at the client's redirect URI.
async function signIn(startURL) {
  const jar = new Map();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (res) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
  };
  let url = startURL.toString();
  let opts = { method: 'GET' };
  for (let step = 0; step < 20; step++) {
    const res = await fetch(url, { ...opts, redirect: 'manual', headers: { ...(opts.headers || {}), cookie: cookieHeader() } });
    keep(res);
    if (res.status >= 300 && res.status < 400) {
      const loc = new URL(res.headers.get('location'), url);
      if (loc.href.startsWith(redirectUrl)) return loc;
      url = loc.href; opts = { method: 'GET' };
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`page ${url} answered ${res.status}: ${html.slice(0, 300)}`);
    const csrf = (html.match(/name="csrf" value="([^"]+)"/) || [])[1];
    const id = new URL(url).searchParams.get('authRequestID');
    const base = new URL(url).origin;
    let form;
    if (html.includes('name="password"')) {
      form = { target: base + '/login', body: { csrf, authRequestID: id, username, password } };
    } else if (html.includes('value="approve"')) {
      form = { target: base + '/consent', body: { csrf, authRequestID: id, action: 'approve' } };
    } else {
      throw new Error(`unexpected page at ${url}: ${html.slice(0, 300)}`);
    }
    url = form.target;
    opts = { method: 'POST', body: new URLSearchParams(form.body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  throw new Error('too many redirects');
}

async function main() {
  const provider = new MemoryProvider();
  const out = {};
  let transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  let client = new Client({ name: 'ts-e2e', version: '1.0.0' });
  try {
    await client.connect(transport);
    throw new Error('connected without authorization');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  out.authorizationURL = provider.authURL.href;
  const cb = await signIn(provider.authURL);
  await transport.finishAuth(cb.searchParams.get('code'));
  transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  client = new Client({ name: 'ts-e2e', version: '1.0.0' });
  await client.connect(transport);
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  out.toolText = res.content[0].text;
  out.clientId = provider.clientInformation().client_id;
  const first = provider.tokens();
  out.hadRefreshToken = !!first.refresh_token;

  // Refresh through the SDK (auth() refreshes when a refresh token is present).
  const result = await auth(provider, { serverUrl: mcpURL });
  out.refreshResult = result;
  out.rotated = provider.tokens().refresh_token !== first.refresh_token && !!provider.tokens().access_token;
  const res2 = await client.callTool({ name: 'whoami', arguments: {} });
  out.toolTextAfterRefresh = res2.content[0].text;

  // Replay the old refresh token: refused.
  const tokenURL = new URL('/token', mcpURL).href;
  const replay = await fetch(tokenURL, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: out.clientId }).toString() });
  out.replayStatus = replay.status;
  out.replayError = (await replay.json()).error;
  await client.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
