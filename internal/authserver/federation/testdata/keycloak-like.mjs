// oidc-provider (panva, npm) dressed as a Keycloak realm, for the federation tests: issuer
// {base}/realms/mcp, endpoints under /protocol/openid-connect/, Keycloak-shaped claims
// (preferred_username, groups as paths, realm_access.roles). Keycloak itself is not
// available offline; this checks mcpgate against a provider it did not write, configured
// like Keycloak. Listens on 127.0.0.1 only and prints {"issuer": ...} once ready.
//
// It also implements RFC 8693 token exchange (Keycloak's "standard token exchange") as a
// custom grant, which oidc-provider does not ship: the subject token must be an active
// access token issued to the calling client; the answer is a JWT for the requested audience
// (the Weather API) with the same user.
//
// Env: NODE_MODULES_DIR, REDIRECT_URI (mcpgate's /login/callback), AT_TTL,
// WEATHER (the downstream resource).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_MODULES_DIR, 'x.js'));
const { default: Provider, errors } = await import(require.resolve('oidc-provider'));
const jose = await import(require.resolve('jose'));

const PREFIX = '/realms/mcp';
const WEATHER = process.env.WEATHER || 'https://weather.example.test';
const AT_TTL = Number(process.env.AT_TTL || 300);
const CAROL = '6f1c2a8e-5b1d-4c1e-9a77-0000000ca201'; // Keycloak subjects are user UUIDs
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'kc-test-1' };

const accounts = {
  [CAROL]: { preferred_username: 'carol', email: 'carol@example.org', email_verified: true,
    name: 'Carol Keycloak', groups: ['/mcp-users', '/staff'], realm_access: { roles: ['mcp-admin', 'offline_access', 'default-roles-mcp'] } },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}${PREFIX}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    cookies: { keys: ['kc-like-cookie-key-0123456789abcdef'] },
    clients: [{
      client_id: 'mcpgate',
      client_secret: 'kc-mcpgate-secret-51f0',
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    routes: {
      authorization: '/protocol/openid-connect/auth',
      token: '/protocol/openid-connect/token',
      jwks: '/protocol/openid-connect/certs',
      userinfo: '/protocol/openid-connect/userinfo',
      end_session: '/protocol/openid-connect/logout',
      revocation: '/protocol/openid-connect/revoke',
      introspection: '/protocol/openid-connect/token/introspect',
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'groups', 'realm_access'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: false, // Keycloak puts profile claims in the id_token
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
    rotateRefreshToken: true,
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ ...accounts[id], sub: id }) }),
    interactions: { url: (ctx, interaction) => `${PREFIX}/interaction/${interaction.uid}` },
    ttl: { AccessToken: AT_TTL, IdToken: 3600, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60 },
  });

  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
    const { subject_token: subject, subject_token_type: type, audience } = ctx.oidc.params;
    if (type !== ACCESS_TOKEN) throw new errors.InvalidRequest('subject_token_type must be ' + ACCESS_TOKEN);
    if (audience !== WEATHER) throw new errors.InvalidTarget('unknown audience');
    const prior = subject && await provider.AccessToken.find(subject);
    if (!prior || prior.isExpired) throw new errors.InvalidGrant('the subject token is not an active access token');
    if (prior.clientId !== ctx.oidc.client.clientId) throw new errors.InvalidGrant('the subject token was issued to another client');
    const at = new provider.AccessToken({ accountId: prior.accountId, client: ctx.oidc.client, grantId: prior.grantId, scope: 'weather.read', gty: 'token_exchange' });
    at.resourceServer = new provider.ResourceServer(WEATHER, { audience: WEATHER, scope: 'weather.read', accessTokenFormat: 'jwt', accessTokenTTL: 300 });
    const value = await at.save();
    ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', expires_in: at.expiration, scope: 'weather.read' };
  }, ['subject_token', 'subject_token_type', 'audience', 'scope', 'requested_token_type']);

  provider.use(async (ctx, next) => {
    if (ctx.path.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const { prompt, params } = details;
      let result;
      if (prompt.name === 'login') {
        result = { login: { accountId: CAROL } };
      } else if (prompt.name === 'consent') {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        const d = prompt.details;
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
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
  const cb = provider.callback();
  server.on('request', (req, res) => {
    if (req.url === PREFIX || req.url.startsWith(PREFIX + '/')) {
      req.originalUrl = req.url;
      req.url = req.url.slice(PREFIX.length) || '/';
      cb(req, res);
      return;
    }
    res.statusCode = 404;
    res.end('not found');
  });
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});
process.stdin.on('end', () => process.exit(0)); // exit with the test process
process.stdin.resume();
