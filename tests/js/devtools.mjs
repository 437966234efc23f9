// Chromium's own DevTools frontend on a proxy's `ws=` URL (issue #20): the
// frontend a user opens, not a library, attached through dbgproxy.
//
//   node tests/js/devtools.mjs WS_HOST_PATH FUNCTION SCREENSHOT
//
// WS_HOST_PATH is `127.0.0.1:PORT/<path>` (an IP literal: the frontend's CSP
// allows only ws://127.0.0.1:*). Starts headless chromium ($DBGPROXY_CHROMIUM,
// else `chromium`) with a fresh profile, opens the frontend that the
// browser's debugging port serves over HTTP (a fresh profile refuses a
// devtools:// URL with a query), and reads the page's text, through its
// shadow roots, until it shows "Debugger paused" and FUNCTION in the call
// stack. Then it saves a screenshot at SCREENSHOT, prints
//   shown: <the page's text>
//   waiting
// and keeps DevTools attached until a line comes on stdin (the test asks the
// proxy's status meanwhile). Chromium is killed on every way out.
// chrome-remote-interface is looked up in $DBGPROXY_NODE_MODULES, else
// .deps/npm/node_modules. Exit 0 on success; 1 on a failed step; 2 on timeout.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules =
  process.env.DBGPROXY_NODE_MODULES || path.join(here, '..', '..', '.deps', 'npm', 'node_modules');
const require = createRequire(path.join(modules, '..', 'resolve-from-here.js'));
const CDP = require('chrome-remote-interface');

const [wsHostPath, fn, shot] = process.argv.slice(2);
if (!wsHostPath || !fn || !shot) {
  console.error('usage: WS_HOST_PATH FUNCTION SCREENSHOT');
  process.exit(1);
}

let step = 'start';
function say(what) {
  step = what;
  console.log(`step: ${what}`);
}

const profile = mkdtempSync(path.join(os.tmpdir(), 'dbgproxy-devtools-'));
const chrome = spawn(
  process.env.DBGPROXY_CHROMIUM || 'chromium',
  [
    '--headless=new',
    '--no-sandbox',
    '--remote-debugging-port=0',
    `--user-data-dir=${profile}`,
    'about:blank',
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
// Chromium goes with us, whatever way we end.
function stop() {
  if (chrome.exitCode === null && chrome.signalCode === null) chrome.kill('SIGKILL');
  rmSync(profile, { recursive: true, force: true });
}
process.on('exit', stop);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(3));
function fail(why) {
  console.error(`failed at step ${step}: ${why}`);
  process.exit(1);
}
process.on('unhandledRejection', (e) => fail(e?.stack || e));
setTimeout(() => {
  console.error(`timed out at step: ${step}`);
  process.exit(2);
}, 45000).unref();

say('chromium');
let said = '';
const port = await new Promise((resolve, reject) => {
  chrome.stderr.on('data', (d) => {
    said += d;
    const m = said.match(/DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
    if (m) resolve(Number(m[1]));
  });
  chrome.on('exit', (code, sig) => reject(new Error(`chromium exited (${code ?? sig}): ${said}`)));
  chrome.on('error', reject);
});
// Drained from now on: a full pipe would stall chromium.
chrome.stderr.resume();
console.log(`chromium pid ${chrome.pid} port ${port}`);

say('open DevTools');
const browser = await CDP({ host: '127.0.0.1', port });
const url = `http://127.0.0.1:${port}/devtools/js_app.html?experiments=true&v8only=true&ws=${wsHostPath}`;
const { targetId } = await browser.Target.createTarget({ url });
const page = await CDP({ host: '127.0.0.1', port, target: targetId });
await page.Runtime.enable();

say('wait for the pause');
// The page's text, shadow roots included (DevTools draws in web components).
const textOf = `(() => {
  const out = [];
  const walk = (n) => {
    if (!n) return;
    if (n.nodeType === 3) out.push(n.textContent);
    if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes || []) walk(c);
  };
  walk(document.body);
  return out.join(' ').replace(/\\s+/g, ' ');
})()`;
let text = '';
for (;;) {
  const r = await page.Runtime.evaluate({ expression: textOf, returnByValue: true });
  text = r.result.value || '';
  if (text.includes('Debugger paused') && text.includes(fn)) break;
  await new Promise((r) => setTimeout(r, 200));
}

say('screenshot');
const png = await page.Page.captureScreenshot({ format: 'png' });
writeFileSync(shot, Buffer.from(png.data, 'base64'));
console.log(`shown: ${text}`);
say('waiting');
const rl = readline.createInterface({ input: process.stdin });
await new Promise((r) => rl.once('line', r));
rl.close();
say('done');
await page.close();
await browser.close();
process.exit(0);
