// Baseline for the token-issuance benchmark: oidc-provider (npm) issuing client-credentials
// access tokens as ES256 JWTs for a resource indicator, like mcpgate does.
// Prints "listening <port>" when ready.
import { generateKeyPairSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.NODE_MODULES_DIR + '/oidc-provider/lib/index.js').href);
const resource = process.argv[2] || 'https://mcp.example.com/mcp';
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench' };

const provider = new Provider('http://127.0.0.1', {
  jwks: { keys: [jwk] },
  clients: [{ client_id: 'svc', client_secret: 's3cret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], id_token_signed_response_alg: 'ES256' }],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      getResourceServerInfo: () => ({ scope: 'mcp:tools', audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
  scopes: ['mcp:tools'],
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
const server = provider.listen(0, '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
