// A real OpenID Connect provider (panva/oidc-provider) for authn's interop test. It issues
// JWT access tokens for one resource via client credentials and prints its port.
// Usage: node oidc-provider.mjs <path of oidc-provider/lib/index.js> <resource> <alg>
import { pathToFileURL } from 'node:url';

const [, , libPath, resource, alg] = process.argv;
const { default: Provider } = await import(pathToFileURL(libPath).href);

const http = await import('node:http');
const { generateKeyPairSync } = await import('node:crypto');
// Fresh signing keys for this run (the provider's quick-start keys have no EC key).
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const jwks = { keys: [{ ...rsa, kid: 'rsa-1', use: 'sig' }, { ...ec, kid: 'ec-1', use: 'sig' }] };
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  jwks,
  clients: [{
    client_id: 'gw-test',
    client_secret: 'gw-test-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'mcp.tools mcp.read',
  }],
  scopes: ['mcp.tools', 'mcp.read'],
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'mcp.tools mcp.read',
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
});
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
