// Signs a user in on the emulator's login page with a real Chromium (playwright-core from
// test/node), answering the MFA and consent pages when they appear, and prints the URL the
// browser was redirected to.
// stdin: {"nodeModules", "chromium", "url", "user", "password", "mfaCode", "redirectPrefix"}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const input = JSON.parse(readFileSync(0, "utf8"));
const require = createRequire(input.nodeModules + "/package.json");
const { chromium } = require("playwright-core");

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  let landed = "";
  // The redirect to the app (nothing listens there) is seen as a request; route handlers
  // do not see requests that follow a redirect.
  page.on("request", (req) => {
    if (req.url().startsWith(input.redirectPrefix)) landed = req.url();
  });
  const steps = [];
  await page.goto(input.url);
  for (let i = 0; i < 5; i++) {
    await page.waitForTimeout(50);
    if (landed) break;
    if (await page.locator("#passwd").count()) {
      steps.push("password");
      await page.fill("#login", input.user);
      await page.fill("#passwd", input.password);
      await Promise.all([page.waitForLoadState(), page.click("button[type=submit]")]);
    } else if (await page.locator("#otc").count()) {
      steps.push("mfa");
      await page.fill("#otc", input.mfaCode);
      await Promise.all([page.waitForLoadState(), page.click("button[type=submit]")]);
    } else if (await page.locator("button[value=accept]").count()) {
      steps.push("consent");
      await Promise.all([page.waitForLoadState(), page.click("button[value=accept]")]);
    } else {
      throw new Error("unexpected page: " + (await page.content()).slice(0, 2000));
    }
  }
  process.stdout.write(JSON.stringify({ landed, steps, title: await page.title() }));
} finally {
  await browser.close();
}
