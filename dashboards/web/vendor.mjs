// Copies the chart library from node_modules (installed with `npm ci` from the lock
// file) into ../assets/vendor, which the crate embeds; prints each file's sha256 so a
// rebuild can be checked against the committed copy.
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync } from "node:fs";

const files = [
  ["node_modules/uplot/dist/uPlot.iife.min.js", "../assets/vendor/uPlot.iife.min.js"],
  ["node_modules/uplot/dist/uPlot.min.css", "../assets/vendor/uPlot.min.css"],
  ["node_modules/uplot/LICENSE", "../assets/vendor/uPlot.LICENSE"],
];
for (const [from, to] of files) {
  copyFileSync(from, to);
  const sha = createHash("sha256").update(readFileSync(to)).digest("hex");
  console.log(`${sha}  ${to}`);
}
