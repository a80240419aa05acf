// oidc-provider (panva, npm) dressed as an Okta custom authorization server, for the
// federation tests: issuer {base}/oauth2/default, endpoints /oauth2/default/v1/authorize,
// /v1/token, /v1/keys, /v1/userinfo; Okta-shaped users (sub is the Okta user id 00u...,
// preferred_username the Okta login) and a groups claim, which an Okta admin adds to the
// authorization server as a custom claim tied to a "groups" scope. Okta itself is not
// available offline. Listens on 127.0.0.1 only and prints {"issuer": ...} once ready.
//
// It also implements Okta's On-Behalf-Of token exchange (RFC 8693 grant on the custom
// authorization server): the subject token must be an active access token issued to the
// calling client, and scope is required, as at Okta.
//
// Env: NODE_MODULES_DIR, REDIRECT_URI (mcpgate's /login/callback), AT_TTL,
// WEATHER (the downstream resource).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_MODULES_DIR, 'x.js'));
const { default: Provider, errors } = await import(require.resolve('oidc-provider'));
const jose = await import(require.resolve('jose'));

const PREFIX = '/oauth2/default';
const WEATHER = process.env.WEATHER || 'https://weather.example.test';
const AT_TTL = Number(process.env.AT_TTL || 300);
const DANA = '00u8k2n4q6s8u0w2y4a6'; // Okta user ids
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'okta-test-1' };

const accounts = {
  [DANA]: { preferred_username: 'dana@example.com', email: 'dana@example.com', email_verified: true,
    name: 'Dana Okta', locale: 'en_US', zoneinfo: 'America/Los_Angeles', groups: ['Everyone', 'MCP Users', 'MCP Admins'] },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}${PREFIX}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    cookies: { keys: ['okta-like-cookie-key-0123456789abcd'] },
    clients: [{
      client_id: '0oa9mcpgate0000000001',
      client_secret: 'okta-mcpgate-secret-7c21',
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    routes: {
      authorization: '/v1/authorize',
      token: '/v1/token',
      jwks: '/v1/keys',
      userinfo: '/v1/userinfo',
      end_session: '/v1/logout',
      revocation: '/v1/revoke',
      introspection: '/v1/introspect',
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'locale', 'zoneinfo'], email: ['email', 'email_verified'], groups: ['groups'] },
    conformIdTokenClaims: false, // Okta's code flow puts the requested claims in the id_token
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
    rotateRefreshToken: true,
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ ...accounts[id], sub: id }) }),
    interactions: { url: (ctx, interaction) => `${PREFIX}/interaction/${interaction.uid}` },
    ttl: { AccessToken: AT_TTL, IdToken: 3600, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60 },
  });

  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
    const { subject_token: subject, subject_token_type: type, audience, scope } = ctx.oidc.params;
    if (type !== ACCESS_TOKEN) throw new errors.InvalidRequest('subject_token_type must be ' + ACCESS_TOKEN);
    if (audience !== WEATHER) throw new errors.InvalidTarget('unknown audience');
    if (scope !== 'weather.read') throw new errors.InvalidScope('The requested scope is invalid, unknown, or malformed.', scope || '');
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
        result = { login: { accountId: DANA } };
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
