// Drives mcpgate's pages in real headless Chromium (playwright-core, Debian's chromium;
// never a downloaded browser): the landing page, sign-in and consent (with an axe-core
// scan), consent by keyboard only, the admin console refused and allowed, the policy
// simulator, the console's store-backed sections and their actions, and My account.
//
// Usage: NODE_MODULES_DIR=... CHROMIUM=/usr/bin/chromium node browser_pages.cjs <base URL> <authorize URL> <allow sim query> <deny sim query> <screenshot dir>
const { createRequire } = require('node:module');
const req = createRequire(process.env.NODE_MODULES_DIR + '/');
const { chromium } = req('playwright-core');
const axeSource = require('node:fs').readFileSync(req.resolve('axe-core/axe.min.js'), 'utf8');

const [base, authorizeURL, allowQuery, denyQuery, shotDir, staleClient] = process.argv.slice(2);
const verifier = process.env.VERIFIER;
const text = async (page) => (await page.textContent('body')).replace(/\s+/g, ' ').trim();

async function axe(page) {
  // Injected through the devtools protocol, as the pages' CSP allows no inline script.
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
}

async function signIn(page, user) {
  await page.fill('#username', user);
  await page.fill('#password', 'correct horse');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

// toApp runs act, which sends the browser back to the application's redirect URI, and
// returns that URL. Port 9 is one Chromium never opens: the request carries the answer,
// then Chromium shows its error page, which is waited for so that the next navigation
// is not interrupted by it.
async function toApp(page, act) {
  const shown = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() && f.url().startsWith('chrome-error') });
  const [req] = await Promise.all([page.waitForRequest(/127\.0\.0\.1:9\/cb/), act()]);
  await shown;
  return req.url();
}

// exchange redeems the authorization code of a callback URL at the token endpoint.
async function exchange(callback) {
  const code = new URL(callback).searchParams.get('code');
  const r = await fetch(base + '/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:9/cb', client_id: 'notes-app', code_verifier: verifier }) });
  const j = await r.json();
  j.status = r.status;
  return j;
}

async function refresh(token) {
  return fetch(base + '/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: 'notes-app' }) });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const out = { consoleErrors: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 900 }, bypassCSP: false });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') out.consoleErrors.push(m.text()); });

    await page.goto(base + '/');
    out.landingTitle = await page.title();
    out.landing = await text(page);
    await page.screenshot({ path: shotDir + '/landing.png', fullPage: true });

    await page.goto(authorizeURL);
    out.loginTitle = await page.title();
    out.loginAxe = await axe(page);
    // Keyboard only: the username field has focus; Tab reaches the password field.
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('correct horse');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    out.consentTitle = await page.title();
    out.consent = await text(page);
    out.consentAxe = await axe(page);
    await page.screenshot({ path: shotDir + '/authserver-consent.png', fullPage: true });
    // Keyboard only: Tab walks the page's controls and reaches Deny, then Allow; Enter on
    // Allow approves and the browser is sent back to the application.
    out.consentTabOrder = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const f = await page.evaluate(() => { const e = document.activeElement; return e ? e.tagName + ':' + (e.textContent || '').trim() : ''; });
      out.consentTabOrder.push(f);
      if (f === 'BUTTON:Allow') break;
    }
    const alice = await exchange(await toApp(page, () => page.keyboard.press('Enter')));
    out.aliceToken = alice.status;
    // A call the route's policy denies, for the audit trail.
    const call = await fetch(base + '/crm/mcp', { method: 'POST', headers: { authorization: 'Bearer ' + alice.access_token, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'refund', arguments: { amount: 5000 } } }) });
    out.denyCall = call.status + ' ' + (await call.text()).slice(0, 300);
    // 55 more, so that the audit trail has a second page.
    for (let i = 0; i < 55; i++) {
      await fetch(base + '/crm/mcp', { method: 'POST', headers: { authorization: 'Bearer ' + alice.access_token, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'refund', arguments: { amount: 2000 + i } } }) }).then((r) => r.text());
    }

    await page.goto(base + '/admin');
    out.admin = await text(page);
    await page.screenshot({ path: shotDir + '/console-routes.png', fullPage: true });
    out.clientsBefore = (await page.textContent('table:has(tr[data-client])')).replace(/\s+/g, ' ');
    // Disable the self-registered client, enable it again, then delete it.
    await Promise.all([page.waitForNavigation(), page.click(`tr[data-client="${staleClient}"] button.toggle`)]);
    out.disabled = await text(page);
    out.disabledRow = await page.getAttribute(`tr[data-client="${staleClient}"]`, 'data-disabled');
    out.disabledAuthorize = (await fetch(base + '/authorize?' + new URLSearchParams({ response_type: 'code', client_id: staleClient, redirect_uri: 'http://127.0.0.1:7/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }), { redirect: 'manual' })).status;
    await Promise.all([page.waitForNavigation(), page.click(`tr[data-client="${staleClient}"] button.toggle`)]);
    out.enabledRow = await page.getAttribute(`tr[data-client="${staleClient}"]`, 'data-disabled');
    await Promise.all([page.waitForNavigation(), page.click(`tr[data-client="${staleClient}"] button.delete`)]);
    out.deleted = await text(page);
    // A post without the form's token (a forged request) is refused.
    const forged = await page.request.post(base + '/admin/clients/delete', { form: { client: 'notes-app', csrf: 'forged-forged-forged-forged-forged' }, maxRedirects: 0 });
    out.forgedStatus = forged.status();
    out.clientRowsAfter = await page.$$eval('tr[data-client]', (rows) => rows.map((r) => r.dataset.client));
    await page.goto(base + '/admin/simulate?' + allowQuery);
    out.allowDecision = await page.getAttribute('[data-decision]', 'data-decision');
    out.allowReasons = await page.$$eval('code.reason', (els) => els.map((e) => e.textContent));
    out.allowDeciding = await page.$$eval('code.deciding', (els) => els.map((e) => e.textContent));
    out.allowRules = await page.$$eval('tr[data-rule]', (rows) => rows.map((r) => [r.dataset.rule, r.children[2].textContent]));
    await page.goto(base + '/admin/simulate?' + denyQuery);
    out.denyDecision = await page.getAttribute('[data-decision]', 'data-decision');
    out.denyReasons = await page.$$eval('code.reason', (els) => els.map((e) => e.textContent));
    out.denyDeciding = await page.$$eval('code.deciding', (els) => els.map((e) => e.textContent));
    out.denyRules = await page.$$eval('tr[data-rule]', (rows) => rows.map((r) => [r.dataset.rule, r.children[2].textContent]));
    await page.locator('#result').scrollIntoViewIfNeeded();
    await page.screenshot({ path: shotDir + '/console-simulator.png', fullPage: true });

    out.adminAxe = await axe(page);

    // The audit trail: the denied call with its reason, its rules and the simulator link.
    await page.goto(base + '/admin/audit?decision=deny&route=crm');
    out.auditAxe = await axe(page);
    out.auditRows = await page.$$eval('table.audit tbody tr', (rows) => rows.map((r) => r.textContent.replace(/\s+/g, ' ').trim()));
    const why = page.locator('table.audit details.why').first();
    await why.locator('summary').focus();
    await page.keyboard.press('Enter'); // keyboard opens "Why?"
    out.auditReason = await why.locator('.reason').textContent();
    out.auditRules = await why.locator('code.rule').allTextContents();
    await page.screenshot({ path: shotDir + '/console-audit.png' }); // the first rows: fifty would make a tall picture
    await Promise.all([page.waitForNavigation(), why.locator('a').click()]);
    out.whyDecision = await page.getAttribute('[data-decision]', 'data-decision');
    out.whyDeciding = await page.$$eval('code.deciding', (els) => els.map((e) => e.textContent));
    // Paging: 50 a page, newest first; "Older events" shows the rest.
    await page.goto(base + '/admin/audit?decision=deny&route=crm');
    out.page1 = await page.$$eval('table.audit tbody tr', (rows) => rows.length);
    await Promise.all([page.waitForNavigation(), page.click('a[rel=next]')]);
    out.page2 = await page.$$eval('table.audit tbody tr', (rows) => rows.length);
    out.page2Older = await page.$$eval('a[rel=next]', (a) => a.length);
    out.page2Oldest = await page.$$eval('table.audit tbody tr:last-child code', (els) => els.map((e) => e.textContent));
    const bad = await page.goto(base + '/admin/audit?before=yesterday');
    out.badCursor = await text(page);

    // Users, groups and sign-ins; one user's grants, sign-ins and connections.
    await page.goto(base + '/admin/users');
    out.usersAxe = await axe(page);
    out.users = await text(page);
    await page.screenshot({ path: shotDir + '/console-users.png', fullPage: true });
    await Promise.all([page.waitForNavigation(), page.click('tr[data-user="config:alice"] a')]);
    out.userAxe = await axe(page);
    out.user = await text(page);
    await page.screenshot({ path: shotDir + '/console-user.png', fullPage: true });
    await Promise.all([page.waitForNavigation(), page.click('tr[data-connection="tasks"] button')]);
    out.connRevoked = await text(page);
    out.connRowsAfter = await page.$$eval('tr[data-connection]', (rows) => rows.map((r) => r.dataset.connection));
    await Promise.all([page.waitForNavigation(), page.click('tr[data-grant="notes-app"] button')]);
    out.grantRevoked = await text(page);
    out.signInRowsAfter = await page.$$eval('tr[data-signin]', (rows) => rows.length);
    out.aliceRefreshAfter = (await refresh(alice.refresh_token)).status;

    // Signing keys: rotate.
    await page.goto(base + '/admin/keys');
    out.keysAxe = await axe(page);
    out.keysBefore = await page.$$eval('tr[data-key]', (rows) => rows.map((r) => r.children[2].textContent));
    await Promise.all([page.waitForNavigation(), page.click('form[action="/admin/keys/rotate"] button')]);
    out.keysRotated = await text(page);
    out.keysAfter = await page.$$eval('tr[data-key]', (rows) => rows.map((r) => r.children[2].textContent));
    await page.screenshot({ path: shotDir + '/console-keys.png', fullPage: true });
    const jwks = await (await fetch(base + '/jwks')).json();
    out.jwksKeys = jwks.keys.length;
    // The key that signed so far leaked: remove it; the new one signs at once.
    const leaked = await page.$eval('tr[data-key]:has(td.ok)', (r) => r.dataset.key);
    await Promise.all([page.waitForNavigation(), page.click(`tr[data-key="${leaked}"] button`)]);
    out.keyRemoved = await text(page);
    out.keysAfterRemove = await page.$$eval('tr[data-key]', (rows) => rows.map((r) => r.dataset.key + ':' + r.children[2].textContent));
    out.jwksAfterRemove = (await (await fetch(base + '/jwks')).json()).keys.map((k) => k.kid);
    out.leaked = leaked;

    // Someone outside the admin groups.
    const other = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const p2 = await other.newPage();
    const resp = await p2.goto(base + '/admin');
    await signIn(p2, 'bob');
    out.nonAdminStatus = (await p2.waitForLoadState()) || null;
    out.nonAdmin = await text(p2);
    out.nonAdminTitle = await p2.title();
    await p2.goto(base + '/admin/audit');
    out.nonAdminAudit = await text(p2);
    const forgedRotate = await p2.request.post(base + '/admin/keys/rotate', { form: { csrf: 'x'.repeat(40) }, maxRedirects: 0 });
    out.nonAdminRotate = forgedRotate.status();

    // My account (bob): allow Notes App first, then revoke it and sign out everywhere.
    // Keyboard only, Deny: the application is told access_denied.
    await p2.goto(authorizeURL);
    for (let i = 0; i < 40; i++) {
      await p2.keyboard.press('Tab');
      if (await p2.evaluate(() => document.activeElement && document.activeElement.textContent.trim() === 'Deny')) break;
    }
    out.deniedCallback = await toApp(p2, () => p2.keyboard.press('Enter'));
    await p2.goto(authorizeURL);
    const bob = await exchange(await toApp(p2, () => p2.click('button[value=approve]')));
    await p2.goto(base + '/account');
    out.accountAxe = await axe(p2);
    out.account = await text(p2);
    await p2.screenshot({ path: shotDir + '/account.png', fullPage: true });
    await Promise.all([p2.waitForNavigation(), p2.click('tr[data-connection="legacy"] button')]);
    out.accountDisconnected = await text(p2);
    await Promise.all([p2.waitForNavigation(), p2.click('tr[data-grant="notes-app"] button')]);
    out.accountRevoked = await text(p2);
    out.bobRefreshAfter = (await refresh(bob.refresh_token)).status;
    await Promise.all([p2.waitForNavigation(), p2.click('form[action="/account/signout-everywhere"] button')]);
    out.afterSignOutURL = p2.url();
    await p2.goto(base + '/account');
    out.accountAfterSignOut = p2.url();

    // My connections, opened signed out: sign in, then back to the page.
    const third = await browser.newContext({ viewport: { width: 760, height: 560 } });
    const p3 = await third.newPage();
    await p3.goto(base + '/connections/');
    await signIn(p3, 'bob');
    out.connectionsURL = p3.url();
    out.connections = await text(p3);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
