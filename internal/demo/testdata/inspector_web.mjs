// Drives the MCP Inspector 2.x web UI in headless Chromium (playwright-core) through the
// steps the README gives for the mcpgate demo. Run by TestInspectorWebUI
// (internal/demo/inspector_test.go), which starts the demo and the Inspector.
//
// Environment: NODE_MODULES_DIR (test/node/node_modules), CHROMIUM, INSPECTOR_URL (with
// its ?MCP_INSPECTOR_API_TOKEN=…), DEMO (the demo's base URL), ALICE and BOB (passwords),
// CONTOSO_ALICE (alice's Contoso user name), SHOTS (folder for screenshots on failure).
// Prints one line per step ("step: …") and, at the end, one JSON line with what was seen.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_MODULES_DIR, 'x.js'));
const { chromium } = require('playwright-core');
const env = process.env;
const demo = env.DEMO;
const seen = {};
const step = (s) => console.log('step: ' + s);

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

// A fresh browser profile: no mcpgate session. Requests leave loopback never (the
// Inspector page asks for web fonts; they are refused).
async function freshPage(name) {
  const ctx = await browser.newContext();
  await ctx.route('**/*', (r) => {
    const u = new URL(r.request().url());
    return u.hostname === '127.0.0.1' || u.hostname === 'localhost' ? r.continue() : r.abort();
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => console.log(`${name}: page error: ${e.message}`));
  pages.push([name, page]);
  return page;
}
const pages = [];

const bodyText = (page) => page.evaluate(() => document.body.innerText);

// README: "Add Servers → Add manually; Server ID <name>, Transport streamable-http, URL
// <route URL>; Add."
async function addServer(page, name, url) {
  await page.goto(env.INSPECTOR_URL);
  await page.getByRole('button', { name: 'Add Servers' }).click();
  await page.getByRole('menuitem', { name: 'Add manually' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByPlaceholder('my-server').fill(name);
  await dlg.locator('input[aria-haspopup=listbox]').click(); // Transport
  await page.getByRole('option', { name: 'streamable-http' }).click();
  await dlg.getByPlaceholder('https://example.com/mcp').fill(url);
  await dlg.getByRole('button', { name: 'Add' }).click();
  await dlg.waitFor({ state: 'hidden' });
  step(`${name}: added ${url}`);
}

// README: "switch the server's toggle on: the sign-in page opens in the same tab".
async function toggle(page, name) {
  const sw = page.getByRole('switch', { name: `Connect or disconnect "${name}"` });
  await sw.waitFor({ state: 'attached' });
  await page.waitForTimeout(300); // the card settles after the dialog closes
  await sw.click({ force: true }); // the switch input is visually hidden behind its track
}

async function signInLocal(page, user, password) {
  await page.waitForURL((u) => u.href.startsWith(demo + '/login'));
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  step(`signed in as ${user}`);
}

async function allow(page) {
  await page.waitForURL((u) => u.href.startsWith(demo + '/consent') || u.href.startsWith(demo + '/login/federated'));
  await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
  await page.getByRole('button', { name: 'Allow' }).click();
  step('allowed');
}

async function connected(page, name) {
  await page.waitForURL((u) => u.href.startsWith(new URL(env.INSPECTOR_URL).origin));
  await page.getByText('Connected', { exact: true }).first().waitFor();
  step(`${name}: connected`);
}

// README: "Tools (top bar) → the tool → fill the form → Execute Tool".
async function openTools(page) {
  await page.locator('label').filter({ hasText: /^Tools$/ }).first().click();
  await page.getByText(/^Tools \(\d+\)$/).waitFor();
  const n = Number((await page.getByText(/^Tools \(\d+\)$/).innerText()).match(/\d+/)[0]);
  const names = await page.locator('button').filter({ hasText: /^[a-z_]+$/ }).allInnerTexts();
  return { n, names };
}

async function runTool(page, tool, args) {
  await page.locator('button').filter({ hasText: new RegExp('^' + tool + '$') }).first().click();
  await page.getByRole('button', { name: 'Execute Tool' }).waitFor();
  const header = await bodyText(page);
  for (const [k, v] of Object.entries(args)) {
    await page.getByRole('textbox', { name: k }).fill(v);
  }
  await page.getByRole('button', { name: 'Execute Tool' }).click();
  await page.getByText('Results', { exact: true }).waitFor();
  await page.waitForTimeout(300);
  return { header, result: await bodyText(page) };
}

function badges(text) {
  return ['read-only', 'destructive', 'idempotent', 'open-world'].filter((b) => text.toLowerCase().includes(b));
}

try {
  // 1. weather as alice: sign in, allow, list tools, call get_forecast.
  const a = await freshPage('alice');
  await addServer(a, 'weather', demo + '/weather/mcp');
  await toggle(a, 'weather');
  await signInLocal(a, 'alice', env.ALICE);
  await allow(a);
  await connected(a, 'weather');
  const wt = await openTools(a);
  step(`weather: tools ${JSON.stringify(wt)}`);
  const f = await runTool(a, 'get_forecast', { city: 'Paris' });
  seen.weather = { tools: wt.names, count: wt.n, badges: badges(f.header), portabilityWarning: f.header.includes('Schema portability'),
    result: f.result.includes('Forecast for Paris:'), structured: f.result.includes('Structured Output') };
  step(`weather: get_forecast ${JSON.stringify(seen.weather)}`);

  // 2. stocks as bob (another browser, so another mcpgate session): get_quote is hidden.
  const b = await freshPage('bob');
  await addServer(b, 'stocks', demo + '/stocks/mcp');
  await toggle(b, 'stocks');
  await signInLocal(b, 'bob', env.BOB);
  await allow(b);
  await connected(b, 'stocks');
  const st = await openTools(b);
  seen.stocksBob = { tools: st.names, count: st.n };
  step(`stocks as bob: ${JSON.stringify(seen.stocksBob)}`);

  // 3. files (On-Behalf-Of) through "Sign in with Contoso (Entra emulator)".
  const c = await freshPage('contoso');
  await addServer(c, 'files', demo + '/files/mcp');
  await toggle(c, 'files');
  await c.waitForURL((u) => u.href.startsWith(demo + '/login'));
  await c.getByRole('link', { name: 'Sign in with Contoso (Entra emulator)' }).click();
  await allow(c); // mcpgate asks before handing over to Contoso
  await c.waitForURL((u) => u.href.startsWith(demo + '/entra/'));
  step(`files: at the Entra emulator ${new URL(c.url()).pathname}`);
  await c.locator('input[type=email], input[name=login], input[name=username], input[name=loginfmt]').first().fill(env.CONTOSO_ALICE);
  await c.locator('input[type=password]').fill(env.ALICE);
  await c.locator('button[type=submit], input[type=submit]').first().click();
  await connected(c, 'files');
  await openTools(c);
  const w = await runTool(c, 'whoami', {});
  seen.files = { result: w.result.slice(w.result.indexOf('Results'), w.result.indexOf('Results') + 1500) };
  step('files: whoami called');

  // 4. tasks (a connection): the server connects and lists its tools before the user has
  //    linked the account; the first call that needs it shows the connect link (as an
  //    alert or in the tool's result, depending on how the Inspector presents -32042);
  //    opened in a fresh browser it signs in, connects Tasks at Contoso, and the retry works.
  await addServer(a, 'tasks', demo + '/tasks/mcp');
  await toggle(a, 'tasks');
  // alice's mcpgate session is in this browser: straight to the consent page.
  await allow(a);
  await a.waitForURL((u) => u.href.startsWith(new URL(env.INSPECTOR_URL).origin));
  const alert = a.getByRole('alert').filter({ hasText: /connections\/tasks\/connect/ });
  const linkRe = /https?:\/\/[^\s"]+\/connections\/tasks\/connect/;
  let alertText = '';
  let alerted = false;
  try {
    await alert.waitFor({ timeout: 5000 }); // an Inspector that treats -32042 at connect as an alert
    alerted = true;
  } catch {
    await a.getByText('Connected', { exact: true }).first().waitFor();
    await openTools(a);
    await a.locator('button').filter({ hasText: /^whoami$/ }).first().click();
    await a.getByRole('button', { name: 'Execute Tool' }).click();
    await Promise.race([
      alert.waitFor().then(() => { alerted = true; }),
      a.getByText(/connections\/tasks\/connect/).first().waitFor(),
    ]);
  }
  alertText = alerted ? await alert.innerText() : await bodyText(a);
  const link = (alertText.match(linkRe) || [])[0];
  seen.tasksAlert = alertText;
  step(`tasks: the Inspector shows the connect link ${alerted ? 'in an alert' : 'in the tool result'}`);
  if (!link) throw new Error('no connect link in the Inspector');

  const d = await freshPage('fresh');
  await d.goto(link);
  seen.connectSignIn = d.url(); // mcpgate's sign-in, /login?return=/connections/tasks/connect
  await signInLocal(d, 'alice', env.ALICE);
  await d.waitForURL(link);
  await d.getByRole('button', { name: /^Connect/ }).click();
  await d.waitForURL((u) => u.href.startsWith(demo + '/entra/'));
  await d.locator('input[type=email], input[name=login], input[name=username], input[name=loginfmt]').first().fill(env.CONTOSO_ALICE);
  await d.locator('input[type=password]').fill(env.ALICE);
  await d.locator('button[type=submit], input[type=submit]').first().click();
  await d.waitForURL((u) => u.href.startsWith(demo + '/connections/'));
  seen.connectedPage = { url: d.url(), text: (await bodyText(d)).slice(0, 600) };
  step(`tasks: connected, back at ${d.url()}`);

  // The retry is checked from the Go side with alice's own client (the Inspector does
  // not let this script re-run a tool whose last call failed: its page stops answering).
} catch (e) {
  console.log('FAILED: ' + e.message);
  for (const [name, p] of pages) {
    try {
      console.log(`--- ${name} at ${p.url()}:\n${(await bodyText(p)).slice(0, 3000)}`);
      if (env.SHOTS) await p.screenshot({ path: path.join(env.SHOTS, name + '.png'), fullPage: true });
    } catch {}
  }
  process.exitCode = 1;
}
console.log(JSON.stringify(seen));
await browser.close();
