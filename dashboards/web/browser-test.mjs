// The console end to end in headless Chromium (Debian `chromium`, driven by
// playwright-core). Run by `pipelines/tests/console_browser.rs`, which starts
// `vigil serve` on a demo store and passes:
//   VIGIL_URL     the console's base URL
//   SCREENSHOTS   where the screenshots go
//   VIGIL_TOKEN_URL, VIGIL_TOKEN   a second console over the same store, with a token
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
  const hists = await page.evaluate(() => window.__vigil.histograms);
  check(hists >= 4 && await page.locator(".hists canvas").count() === hists, `${hists} score histograms are drawn`);
  await page.waitForFunction(() => [...document.querySelectorAll("td")].some((td) => td.textContent === "sink"));
  check(true, "the pipeline table lists the stages");
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });
  await page.selectOption("#by", "model");
  await page.waitForFunction(() => window.__vigil.chartBy?.startsWith("model"));
  const models = await page.evaluate(() => window.__vigil.chartBy);
  check(await page.locator("#chart canvas").count() === 1, `the chart stacks by model too (${models})`);
  await page.selectOption("#by", "severity");
  await page.waitForFunction(() => window.__vigil.chartBy?.startsWith("severity"));

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

  // Click a value to exclude it, then group by another.
  const source = await page.locator("#queue button.value").first();
  const [field, picked] = (await source.getAttribute("title")).split(":")[0].split(" = ");
  await source.click();
  await page.click(".menu >> text=exclude");
  await page.waitForSelector("body[data-ready=alerts] #pills button.pill");
  const pill = await page.locator("#pills button.pill").first().textContent();
  check(pill.includes(`${field} ≠ ${picked}`), `excluding ${field} ${picked} shows a pill (${pill})`);
  const shown = await page.locator(`#queue button.value[title^="${field} = ${picked}:"]`).count();
  check(shown === 0, `no alert of ${field} ${picked} is listed`);
  await page.locator("#queue button.value[title^='model = ']").first().focus();
  await page.keyboard.press("Enter");
  await page.keyboard.press("ArrowRight");
  await page.locator(".menu >> text=group by model").click();
  await page.waitForSelector("body[data-ready=alerts]");
  await page.waitForFunction(() => document.querySelector("main h2")?.textContent === "By model");
  check(true, "the queue groups by model");
  await page.screenshot({ path: `${shots}/alerts-grouped.png` });

  // 4. Drill down from a flow alert to its flow.
  await page.goto(`${url}/#/alerts?model=flow-transformer-cicids2017`);
  await page.waitForSelector("body[data-ready=alerts]");
  await page.locator("#queue tr a[href^='#/flow/']").first().click();
  await page.waitForSelector("body[data-ready=flow]");
  check(await page.locator("text=5-tuple and state").count() === 1, "the flow drill-down shows the 5-tuple");
  check(await page.locator("text=Model verdicts and evidence").count() === 1, "and the verdicts");
  await page.screenshot({ path: `${shots}/flow.png` });

  // A flow netFound read: its burst timeline.
  const scored = await page.evaluate(async () => {
    const r = await fetch("/api/sql", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: "SELECT flow_id FROM flows WHERE bursts IS NOT NULL ORDER BY cardinality(bursts) DESC, flow_id LIMIT 1" }) });
    return (await r.json()).rows[0][0];
  });
  await page.goto(`${url}/#/flow/${scored}`);
  await page.waitForSelector("body[data-ready=flow]");
  const bursts = await page.evaluate(() => window.__vigil.bursts);
  check(bursts > 1 && await page.locator("#bursts canvas").count() === 1, `flow ${scored}: a timeline of its ${bursts} bursts`);
  await page.screenshot({ path: `${shots}/flow-bursts.png`, fullPage: true });

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

  // 7. A console with a token: the page asks for it, then works (live stream included).
  const locked = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  locked.on("pageerror", (e) => errors.push(e.message));
  await locked.goto(`${process.env.VIGIL_TOKEN_URL}/#/`);
  await locked.waitForSelector("#token");
  await locked.screenshot({ path: `${shots}/token.png` });
  await locked.fill("#token", process.env.VIGIL_TOKEN);
  await locked.keyboard.press("Enter");
  await locked.waitForSelector("body[data-ready=overview]");
  const lockedPoints = await locked.evaluate(() => window.__vigil.overviewPoints);
  await locked.waitForTimeout(1500);
  const liveError = await locked.locator("#status").textContent();
  check(lockedPoints > 0 && liveError === "", `with its token the console answers (${lockedPoints} points, live stream open)`);

  check(errors.length === 0, `no page errors ${errors.join("; ")}`);
} finally {
  await browser.close();
  lines.close();
}
