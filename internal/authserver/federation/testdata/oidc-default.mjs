// oidc-provider (panva, npm) with its DEFAULT claim placement, for the userinfo tests: it
// follows OpenID Connect Core section 5.4 — when an access token is issued (the code flow),
// the claims that scopes request (profile, email, groups) are released at the userinfo
// endpoint only; the id_token carries sub and the protocol claims (conformIdTokenClaims is
// left at its default, true). Issuer at the root, oidc-provider's own routes (/auth,
// /token, /jwks, /me). Listens on 127.0.0.1 only and prints {"issuer": ...} once ready.
//
// Env: NODE_MODULES_DIR, REDIRECT_URI (mcpgate's /login/callback).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_MODULES_DIR, 'x.js'));
const { default: Provider } = await import(require.resolve('oidc-provider'));
const jose = await import(require.resolve('jose'));

const ERIN = 'erin-0d3c';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'oidc-default-1' };

const accounts = {
  [ERIN]: { preferred_username: 'erin', email: 'erin@example.org', email_verified: true, name: 'Erin Example', groups: ['engineering', 'staff'] },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    cookies: { keys: ['oidc-default-cookie-key-0123456789'] },
    clients: [{
      client_id: 'mcpgate',
      client_secret: 'oidc-default-secret-7c21',
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'], groups: ['groups'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ ...accounts[id], sub: id }) }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  });

  provider.use(async (ctx, next) => {
    if (ctx.path.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const { prompt, params } = details;
      let result;
      if (prompt.name === 'login') {
        result = { login: { accountId: ERIN } };
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
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});
process.stdin.on('end', () => process.exit(0)); // exit with the test process
process.stdin.resume();
