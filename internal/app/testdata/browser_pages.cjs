// Drives mcpgate's pages in real headless Chromium (playwright-core, Debian's chromium;
// never a downloaded browser): the landing page, sign-in and consent (with an axe-core
// scan), the admin console refused and allowed, and the policy simulator.
//
// Usage: NODE_MODULES_DIR=... CHROMIUM=/usr/bin/chromium node browser_pages.cjs <base URL> <authorize URL> <allow sim query> <deny sim query> <screenshot dir>
const { createRequire } = require('node:module');
const req = createRequire(process.env.NODE_MODULES_DIR + '/');
const { chromium } = req('playwright-core');
const axeSource = require('node:fs').readFileSync(req.resolve('axe-core/axe.min.js'), 'utf8');

const [base, authorizeURL, allowQuery, denyQuery, shotDir, staleClient] = process.argv.slice(2);
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

    await page.goto(base + '/admin');
    out.admin = await text(page);
    await page.screenshot({ path: shotDir + '/console-routes.png', fullPage: true });
    out.clientsBefore = (await page.textContent('table:has(tr[data-client])')).replace(/\s+/g, ' ');
    await Promise.all([page.waitForNavigation(), page.click(`tr[data-client="${staleClient}"] button`)]);
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

    // Someone outside the admin groups.
    const other = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const p2 = await other.newPage();
    const resp = await p2.goto(base + '/admin');
    await signIn(p2, 'bob');
    out.nonAdminStatus = (await p2.waitForLoadState()) || null;
    out.nonAdmin = await text(p2);
    out.nonAdminTitle = await p2.title();

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
