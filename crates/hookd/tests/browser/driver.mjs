// A headless Chromium that a Rust test drives over stdin/stdout, one JSON command per line
// in, one JSON answer per line out: the browser half of hookd's page tests
// (crates/hookd/tests/it/browser.rs is the other half).
//
//   node driver.mjs MODULES_DIR [CHROMIUM]
//
// MODULES_DIR holds node_modules/playwright-core (.ci/run installs it into .browser-js/);
// CHROMIUM defaults to /usr/bin/chromium (Debian's package).
//
// Commands ({"op": …}):
//   open {url}                 a new page (the previous one is closed) loads url
//   wait {expr, timeoutMs}     until the JavaScript expression is truthy in the page;
//                              answers its value
//   eval {expr}                the expression's value in the page
//   hold {pattern}             requests matching the URL glob wait, unsent, until release
//   release {pattern, atLeast, timeoutMs}
//                              once at least atLeast requests are held (default 0),
//                              stops holding and sends them on; answers how many
//   problems                   console errors and uncaught page errors seen so far
//                              (a Content-Security-Policy violation is one)
//   close                      closes the browser and exits
// Answers: {"ok": true, "value": …} or {"ok": false, "error": "…"}.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import path from 'node:path';

const [modulesDir, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!modulesDir) {
  process.stderr.write('usage: node driver.mjs MODULES_DIR [CHROMIUM]\n');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modulesDir), 'package.json'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({ executablePath, headless: true });
const context = await browser.newContext();
let page = null;
const problems = [];
const held = new Map();

function watch(newPage) {
  newPage.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  newPage.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
}

function currentPage() {
  if (!page) throw new Error('no page is open: send "open" first');
  return page;
}

const commands = {
  async open({ url }) {
    if (page) await page.close();
    page = await context.newPage();
    watch(page);
    const response = await page.goto(url);
    return response ? response.status() : null;
  },
  // Polled with evaluate rather than waitForFunction: the latter evaluates a string
  // predicate with eval inside the page, which hookd's Content-Security-Policy forbids.
  async wait({ expr, timeoutMs = 15000 }) {
    const deadline = Date.now() + timeoutMs;
    let value;
    for (;;) {
      value = await currentPage().evaluate(expr);
      if (value) return value;
      if (Date.now() > deadline) {
        throw new Error(`still false after ${timeoutMs} ms (last value ${JSON.stringify(value)}): ${expr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  },
  async eval({ expr }) {
    return currentPage().evaluate(expr);
  },
  async hold({ pattern }) {
    const routes = [];
    held.set(pattern, routes);
    await context.route(pattern, (route) => routes.push(route));
    return null;
  },
  async release({ pattern, atLeast = 0, timeoutMs = 15000 }) {
    const routes = held.get(pattern) || [];
    const deadline = Date.now() + timeoutMs;
    while (routes.length < atLeast) {
      if (Date.now() > deadline) throw new Error(`only ${routes.length} requests to ${pattern} came`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    held.delete(pattern);
    await context.unroute(pattern);
    for (const route of routes) await route.continue().catch(() => {});
    return routes.length;
  },
  async problems() {
    return problems;
  },
  async close() {
    await browser.close();
    process.stdout.write(`${JSON.stringify({ ok: true, value: null })}\n`);
    process.exit(0);
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    const command = JSON.parse(line);
    const run = commands[command.op];
    if (!run) throw new Error(`unknown op ${JSON.stringify(command.op)}`);
    answer = { ok: true, value: (await run(command)) ?? null };
  } catch (error) {
    answer = { ok: false, error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await browser.close();
