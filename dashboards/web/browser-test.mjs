// The console end to end in headless Chromium (Debian `chromium`, driven by
// playwright-core). Run by `pipelines/tests/console_browser.rs`, which starts
// `vigil serve` on a demo store and passes:
//   VIGIL_URL     the console's base URL
//   SCREENSHOTS   where the screenshots go
// Protocol on stdio: this script prints `INJECT` when the overview is open and waits for
// a line `ALERT <alert_id>` once the harness has written a new alert to the store.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";

const url = process.env.VIGIL_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));
const check = (ok, what) => { if (!ok) throw new Error(`failed: ${what}`); console.log(`ok: ${what}`); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
const errors = [];
page.on("pageerror", (e) => errors.push(e.message));
try {
  // 1. The overview renders its chart with data points and its tables.
  await page.goto(`${url}/#/`);
  await page.waitForSelector("body[data-ready=overview]", { timeout: 60000 });
  const points = await page.evaluate(() => window.__vigil.overviewPoints);
  check(points > 0, `the alerts chart has ${points} points`);
  check(await page.locator("#chart canvas").count() > 0, "the chart is drawn");
  check(await page.locator("text=Top signatures").count() === 1, "top signatures are shown");
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

  // 2. An alert written to the store appears live.
  console.log("INJECT");
  const line = await nextLine();
  const id = line.split(" ")[1];
  await page.waitForFunction(() => window.__vigil.live > 0, null, { timeout: 30000 });
  check(await page.locator("tr.live").count() > 0, `the new alert ${id} appears in the live table`);
  await page.screenshot({ path: `${shots}/overview-live.png`, fullPage: true });

  // 3. Triage with the keyboard: j moves, e escalates.
  await page.goto(`${url}/#/alerts`);
  await page.waitForSelector("body[data-ready=alerts]");
  await page.waitForSelector("#queue tr.selected");
  await page.keyboard.press("j");
  const chosen = await page.locator("#queue tr.selected").getAttribute("data-id");
  await page.keyboard.press("e");
  await page.waitForFunction((cid) => document.querySelector(`#queue tr[data-id="${cid}"] td:nth-child(3)`)?.textContent === "escalated", chosen);
  const stored = await page.evaluate(async () => (await (await fetch("/api/alerts?state=escalated")).json()).alerts.map((a) => a.alert_id));
  check(stored.includes(chosen), `alert ${chosen} escalated with the keyboard and stored`);
  await page.screenshot({ path: `${shots}/alerts.png` });

  // 4. Drill down from a flow alert to its flow.
  await page.goto(`${url}/#/alerts?model=flow-transformer-cicids2017`);
  await page.waitForSelector("body[data-ready=alerts]");
  await page.locator("#queue tr a[href^='#/flow/']").first().click();
  await page.waitForSelector("body[data-ready=flow]");
  check(await page.locator("text=5-tuple and state").count() === 1, "the flow drill-down shows the 5-tuple");
  check(await page.locator("text=Model verdicts and evidence").count() === 1, "and the verdicts");
  await page.screenshot({ path: `${shots}/flow.png` });

  // 5. A query in the SQL console.
  await page.goto(`${url}/#/sql`);
  await page.waitForSelector("body[data-ready=sql]");
  await page.fill("#sql", "SELECT count(*) AS flows FROM flows");
  await page.click("#run");
  await page.waitForSelector("#result table");
  const value = await page.locator("#result tbody td").first().textContent();
  check(Number(value) > 0, `the SQL console answers ${value} flows`);
  await page.screenshot({ path: `${shots}/sql.png`, fullPage: true });

  // 6. The entity (HSTU) and series (iTransformer) pages.
  const entity = await page.evaluate(async () => {
    const r = await fetch("/api/sql", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: "SELECT entity FROM actions WHERE surprise IS NOT NULL GROUP BY entity ORDER BY count(*) DESC LIMIT 1" }) });
    return (await r.json()).rows[0][0];
  });
  await page.goto(`${url}/#/entity/${encodeURIComponent(entity)}`);
  await page.waitForSelector("body[data-ready=entity]");
  check(await page.locator("main tbody tr").count() > 0, `entity ${entity}: its actions with their surprise`);
  await page.screenshot({ path: `${shots}/entity.png` });
  await page.goto(`${url}/#/series/ec2_cpu_utilization_825cc2`);
  await page.waitForSelector("body[data-ready=series]");
  check(await page.locator("main canvas").count() > 0, "the series page draws observed against forecast");
  await page.screenshot({ path: `${shots}/series.png` });

  check(errors.length === 0, `no page errors ${errors.join("; ")}`);
} finally {
  await browser.close();
  lines.close();
}
