// Links, inspects and unlinks a connection through mcpgate's connection pages in real
// headless Chromium (playwright-core, Debian's chromium; never a downloaded browser).
//
// Usage: NODE_MODULES_DIR=... CHROMIUM=/usr/bin/chromium node browser_connect.cjs <connections URL> <user> <screenshot dir>
const { createRequire } = require('node:module');
const req = createRequire(process.env.NODE_MODULES_DIR + '/');
const { chromium } = req('playwright-core');

const [listURL, user, shotDir] = process.argv.slice(2);
const text = async (page) => (await page.textContent('body')).replace(/\s+/g, ' ').trim();

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const out = { consoleErrors: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 760, height: 560 } });
    await context.addCookies([{ name: 'test_user', value: user, url: listURL }]);
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') out.consoleErrors.push(m.text()); });

    await page.goto(listURL);
    out.listTitle = await page.title();
    out.listBefore = await text(page);
    await Promise.all([page.waitForNavigation(), page.click('a.btn.primary')]);
    out.connectTitle = await page.title();
    out.connectText = await text(page);
    await page.screenshot({ path: shotDir + '/connections-connect.png' });
    await Promise.all([
      page.waitForURL((u) => u.href.includes('connected=')),
      page.click('button[type=submit].primary'),
    ]);
    out.listConnected = await text(page);
    await page.screenshot({ path: shotDir + '/connections-list.png' });
    await Promise.all([
      page.waitForURL((u) => u.href.includes('disconnected=')),
      page.click('text=Disconnect'),
    ]);
    out.listAfter = await text(page);

    // The pages refuse to be framed (clickjacking).
    const framer = await context.newPage();
    const frameErrors = [];
    framer.on('console', (m) => frameErrors.push(m.text()));
    await framer.setContent(`<iframe src="${listURL}"></iframe>`);
    await framer.waitForTimeout(500);
    const f = framer.frames().find((fr) => fr !== framer.mainFrame());
    out.framedText = f ? (await f.evaluate(() => document.body ? document.body.innerText : '').catch(() => '')) : '';
    out.frameErrors = frameErrors;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
