// Signs in through mcpgate's login and consent pages in real headless Chromium
// (playwright-core, Debian's chromium; never a downloaded browser) and saves screenshots.
//
// Usage: NODE_MODULES_DIR=... CHROMIUM=/usr/bin/chromium node browser_login.cjs <authorize URL> <redirect prefix> <user> <password> <screenshot dir>
const { createRequire } = require('node:module');
const req = createRequire(process.env.NODE_MODULES_DIR + '/');
const { chromium } = req('playwright-core');

const [authURL, redirectPrefix, username, password, shotDir] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const out = {};
  try {
    const page = await browser.newPage({ viewport: { width: 720, height: 760 } });
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    await page.goto(authURL);
    await page.waitForSelector('input[name=username]');
    out.loginTitle = await page.title();
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', 'wrong password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.alert.error');
    out.wrongPasswordMessage = (await page.textContent('.alert.error')).trim();
    await page.fill('input[name=password]', password);
    await page.screenshot({ path: shotDir + '/authserver-login.png' });
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.waitForSelector('button[value=approve]');
    out.consentTitle = await page.title();
    out.consentText = (await page.textContent('main')).replace(/\s+/g, ' ').trim();
    await page.screenshot({ path: shotDir + '/authserver-consent.png' });
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(redirectPrefix)),
      page.click('button[value=approve]'),
    ]);
    out.finalURL = page.url();
    out.consoleErrors = consoleErrors;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
