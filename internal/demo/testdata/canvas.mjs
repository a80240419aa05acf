// Drives the web canvas of `mcpgate demo --tls` in a real Chromium (playwright-core from
// test/node, Debian's chromium): each user in a fresh browser context signs in once on the
// canvas page at the Entra emulator, asks the agent a question that needs a tool, and waits
// for the answer or the OAuth card. For the first user it also checks acquireTokenSilent
// through the refresh token and through the hidden iframe (prompt=none + session cookie).
// stdin: {"nodeModules", "chromium", "base", "users": [{"upn", "password"}], "question", "silentChecks"}
// stdout: {"users": [{upn, who, chat, steps, signInPages, answer, card, silent}]}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const input = JSON.parse(readFileSync(0, "utf8"));
const require = createRequire(input.nodeModules + "/package.json");
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: input.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const results = [];
try {
  for (const [i, u] of input.users.entries()) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const log = [];
    page.on("console", (m) => log.push(m.type() + ": " + m.text()));
    page.on("pageerror", (e) => log.push("pageerror: " + e.message));
    // Every authorize request, in the page or in a (hidden) frame.
    const authorize = [];
    page.on("request", (req) => {
      if (req.url().includes("/oauth2/v2.0/authorize") && req.method() === "GET") {
        const q = new URL(req.url()).searchParams;
        authorize.push({ prompt: q.get("prompt") || "", mainFrame: req.frame() === page.mainFrame(), claims: q.get("claims") || "" });
      }
    });
    const r = { upn: u.upn, steps: [], signInPages: 0 };
    try {
      await page.goto(input.base + "/canvas/");
      await page.waitForSelector("#signin:visible", { timeout: 20000 });
      await Promise.all([page.waitForURL(/\/entra\//, { timeout: 20000 }), page.click("#signin")]);
      for (let n = 0; n < 5 && page.url().includes("/entra/"); n++) {
        if (await page.locator("#passwd").count()) {
          r.steps.push("password");
          r.signInPages++;
          await page.fill("#login", u.upn);
          await page.fill("#passwd", u.password);
        } else if (await page.locator("#otc").count()) {
          r.steps.push("mfa");
          await page.fill("#otc", "123456");
        } else if (await page.locator("button[value=accept]").count()) {
          r.steps.push("consent");
          await Promise.all([page.waitForLoadState(), page.click("button[value=accept]")]);
          continue;
        } else {
          throw new Error("unexpected page: " + (await page.content()).slice(0, 1500));
        }
        await Promise.all([page.waitForLoadState(), page.click("button[type=submit]")]);
        await page.waitForTimeout(100);
      }
      await page.waitForFunction(() => (document.getElementById("who")?.textContent || "").startsWith("Signed in as"), null, { timeout: 20000 });
      r.who = await page.textContent("#who");
      // The chat: Bot Framework Web Chat, or the page's stand-in (data-chat says which).
      r.chat = await page.getAttribute("#webchat", "data-chat");
      await page.waitForFunction(() => (document.getElementById("webchat")?.textContent || "").includes("Hello! I am a small agent"), null, { timeout: 20000 }); // the greeting
      const sendBox = r.chat === "stand-in" ? "#input" : '[data-id="webchat-sendbox-input"]';
      await page.fill(sendBox, input.question);
      await page.press(sendBox, "Enter");
      // The answer (a bot message with "saw") or the OAuth card (its text, rendered).
      const cardText = "Please sign in so that I can use";
      await page.waitForFunction((card) => { const t = document.getElementById("webchat")?.textContent || ""; return t.includes(card) || t.includes("saw"); },
        cardText, { timeout: 30000 });
      await page.waitForTimeout(500); // a card that would follow an answer
      r.card = (await page.textContent("#webchat")).includes(cardText);
      const texts = await page.locator("#webchat .bubble, #webchat .webchat__text-content").allTextContents();
      r.answer = texts.filter((t) => t.includes("saw")).pop() || texts[texts.length - 1] || "";
      if (input.silentChecks && i === 0) {
        const before = authorize.length;
        r.silent = await page.evaluate(async () => {
          const account = clientApplication.getActiveAccount();
          const scopes = [CFG.agentScope];
          const viaRT = await clientApplication.acquireTokenSilent({ scopes, account, cacheLookupPolicy: msal.CacheLookupPolicy.RefreshToken });
          const viaIframe = await clientApplication.acquireTokenSilent({ scopes, account, cacheLookupPolicy: msal.CacheLookupPolicy.Skip });
          const sso = await clientApplication.ssoSilent({ scopes, loginHint: account.username });
          return { refreshToken: viaRT.accessToken.length > 0, iframe: viaIframe.accessToken.length > 0, ssoSilent: sso.account.username,
            iframeUser: JSON.parse(atob(viaIframe.accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).preferred_username };
        });
        r.silent.authorize = authorize.slice(before);
      }
      r.authorize = authorize;
    } catch (e) {
      r.error = String(e && e.stack || e);
    }
    r.log = log.slice(-30);
    results.push(r);
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ users: results }));
