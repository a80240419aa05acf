// A real third-party OAuth authorization server (oidc-provider) for the connection tests.
// Started by internal/upstream tests with NODE_PATH pointing at test/node/node_modules.
// It only listens on 127.0.0.1 and prints {"issuer": ...} on stdout once ready.
//
// Env: REDIRECT_URI (mcpgate's connection callback), RESOURCE (the API's resource
// indicator), AT_TTL (access token lifetime, seconds), LOGIN_USER (auto-login account).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_MODULES_DIR, 'x.js'));
const { default: Provider } = await import(require.resolve('oidc-provider'));
const jose = await import(require.resolve('jose'));

const RESOURCE = process.env.RESOURCE || 'https://api.thirdparty.test';
const AT_TTL = Number(process.env.AT_TTL || 300);
const LOGIN_USER = process.env.LOGIN_USER || 'alice';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-1' };

// Counts token endpoint requests by grant type (successes and errors), for the
// "exactly one refresh" assertions.
const stats = { token: {}, tokenErrors: {} };
const bump = (m, k) => { m[k] = (m[k] || 0) + 1; };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
    clients: [
      {
        client_id: 'mcpgate',
        client_secret: 'mcpgate-connection-secret-7c1e',
        redirect_uris: [process.env.REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        client_id: 'mcpgate-app',
        client_secret: 'mcpgate-app-secret-93bd',
        redirect_uris: [],
        grant_types: ['client_credentials'],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['openid', 'offline_access', 'api:read'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (ctx, indicator) => {
          if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return { scope: 'api:read', audience: RESOURCE, accessTokenTTL: AT_TTL, accessTokenFormat: 'jwt' };
        },
      },
    },
    rotateRefreshToken: true,
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@thirdparty.test` }),
    }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AccessToken: AT_TTL, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60 },
  });
  provider.on('grant.success', (ctx) => bump(stats.token, ctx.oidc.params.grant_type));
  provider.on('grant.error', (ctx, err) => bump(stats.tokenErrors, `${ctx.oidc.params?.grant_type}:${err.error}`));

  // Test helpers and the auto-login interaction.
  provider.use(async (ctx, next) => {
    if (ctx.path === '/__test/stats') {
      ctx.body = stats;
      return;
    }
    if (ctx.path.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const { prompt, params } = details;
      let result;
      if (prompt.name === 'login') {
        result = { login: { accountId: LOGIN_USER } };
      } else if (prompt.name === 'consent') {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        const d = prompt.details;
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        if (d.missingResourceScopes) {
          for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
            grant.addResourceScope(indicator, scopes.join(' '));
          }
        }
        result = { consent: { grantId: await grant.save() } };
      } else {
        ctx.status = 500;
        ctx.body = `unexpected prompt ${prompt.name}`;
        return;
      }
      const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
      ctx.status = 303;
      ctx.redirect(to);
      return;
    }
    await next();
  });
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});
process.stdin.on('end', () => process.exit(0)); // exit with the test process
process.stdin.resume();
