// Drives mcpgate's authorization server and gateway with the official TypeScript MCP SDK's
// PrivateKeyJwtProvider: client_credentials with private_key_jwt (RFC 7523). The client is
// registered beforehand (by the Go test) with the public key; the SDK signs the assertion
// with the private key. 401 → PRM → AS metadata → token (assertion) → tools/call. Prints one
// JSON object with the results.
//
// Usage: NODE_MODULES_DIR=test/node/node_modules PKJ_KEY=<PKCS#8 PEM> \
//   node ts_private_key_jwt.cjs <mcp url> <client id> <issuer>
const { createRequire } = require('node:module');
const req = createRequire(process.env.NODE_MODULES_DIR + '/');
const { Client } = req('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = req('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { PrivateKeyJwtProvider } = req('@modelcontextprotocol/sdk/client/auth-extensions.js');

const [mcpURL, clientId, issuer] = process.argv.slice(2);

async function main() {
  const out = {};
  const tokenRequests = [];
  // Record what the SDK sends to the token endpoint (never the assertion itself).
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    const u = String(url);
    if (u.endsWith('/token') && init && init.body) {
      const p = new URLSearchParams(String(init.body));
      tokenRequests.push({ grantType: p.get('grant_type'), assertionType: p.get('client_assertion_type'),
        hasAssertion: !!p.get('client_assertion'), hasSecret: p.has('client_secret'), resource: p.get('resource') });
    }
    return realFetch(url, init);
  };
  const provider = new PrivateKeyJwtProvider({ clientId, privateKey: process.env.PKJ_KEY, algorithm: 'ES256',
    expectedIssuer: issuer, scope: 'mcp:tools' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });
  const client = new Client({ name: 'ts-private-key-jwt', version: '1.0.0' });
  await client.connect(transport);
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  out.toolText = res.content.map((c) => c.text).join('');
  out.tokenType = (provider.tokens() || {}).token_type;
  out.tokenRequests = tokenRequests;
  await client.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
