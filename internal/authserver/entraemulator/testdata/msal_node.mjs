// Drives @azure/msal-node (from test/node) against the Entra emulator.
// stdin: {"nodeModules": "<test/node>", "host": "127.0.0.1:PORT", "cases": [...]}
// Each case: {name, flow: "cc"|"obo"|"code", authority, clientId, secret?, cert?: {thumbprintSha256,
// privateKey}, scopes: [...], assertion?, code?, codeVerifier?, nonce?, redirectUri?, silentScopes?,
// clientCapabilities?, claims?}. Flow "authurl" returns the authorization URL msal-node builds.
// stdout: one JSON array of results.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const input = JSON.parse(readFileSync(0, "utf8"));
const require = createRequire(input.nodeModules + "/package.json");
const msal = require("@azure/msal-node");

const out = [];
for (const c of input.cases) {
  const auth = { clientId: c.clientId, authority: c.authority, knownAuthorities: [input.host] };
  if (c.secret) auth.clientSecret = c.secret;
  if (c.clientCapabilities) auth.clientCapabilities = c.clientCapabilities;
  if (c.cert) auth.clientCertificate = { thumbprintSha256: c.cert.thumbprintSha256, privateKey: c.cert.privateKey };
  const app = new msal.ConfidentialClientApplication({ auth });
  try {
    let r;
    let silent;
    if (c.flow === "authurl") {
      const url = await app.getAuthCodeUrl({ scopes: c.scopes, redirectUri: c.redirectUri, claims: c.claims, loginHint: c.loginHint });
      out.push({ name: c.name, ok: true, url });
      continue;
    }
    if (c.flow === "cc") {
      r = await app.acquireTokenByClientCredential({ scopes: c.scopes });
    } else if (c.flow === "code") {
      r = await app.acquireTokenByCode({ code: c.code, codeVerifier: c.codeVerifier, redirectUri: c.redirectUri, scopes: c.scopes, nonce: c.nonce });
      // A silent call for another resource redeems the refresh token from MSAL's cache.
      silent = await app.acquireTokenSilent({ account: r.account, scopes: c.silentScopes });
    } else {
      r = await app.acquireTokenOnBehalfOf({ oboAssertion: c.assertion, scopes: c.scopes });
    }
    out.push({
      name: c.name, ok: true, accessToken: r.accessToken, tokenType: r.tokenType, scopes: r.scopes,
      username: r.account?.username, homeAccountId: r.account?.homeAccountId, silentAccessToken: silent?.accessToken,
    });
  } catch (e) {
    out.push({
      name: c.name, ok: false, errorName: e.name, errorCode: e.errorCode, subError: e.subError,
      errorNo: e.errorNo, claims: e.claims, message: e.errorMessage,
      interactionRequired: e instanceof msal.InteractionRequiredAuthError,
    });
  }
}
process.stdout.write(JSON.stringify(out));
