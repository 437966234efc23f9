// Two chrome-remote-interface clients on a node started with --inspect-brk,
// through dbgproxy (issue #20), each holding a breakpoint by URL on its own
// early line of the script. Node runs on the first session's release, so
// after a restart it must be let run only once both clients' breakpoints
// are replayed into the new process: then both hit there, in order.
//
//   node tests/js/cdp_brk.mjs CLIENT_PORT SCRIPT_URL LINE_A LINE_B
//
// LINE_A comes before LINE_B (0-based), both run once at the script's start.
// Prints "restart now" once both hit in the first process, then waits for a
// line on stdin (the test has killed node and started it again with
// --inspect-brk), and prints "new pid N" once both hit again. Every pause is
// resumed by client A (clients such as js-debug resume a "Break on start"
// they did not ask for). Exit 0 on success; 1 on a failed step; 2 on timeout.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules =
  process.env.DBGPROXY_NODE_MODULES || path.join(here, '..', '..', '.deps', 'npm', 'node_modules');
const require = createRequire(path.join(modules, '..', 'resolve-from-here.js'));
const CDP = require('chrome-remote-interface');

const [port, url, lineA, lineB] = [
  Number(process.argv[2]),
  process.argv[3],
  Number(process.argv[4]),
  Number(process.argv[5]),
];
assert.ok(port > 0 && url && lineB > lineA, 'usage: PORT URL LINE_A LINE_B');
let step = 'start';
function say(what) {
  step = what;
  console.log(`step: ${what}`);
}
setTimeout(() => {
  console.error(`timed out at step: ${step}`);
  process.exit(2);
}, 45000).unref();

const connect = () => CDP({ host: '127.0.0.1', port });

say('two clients');
const [a, b] = [await connect(), await connect()];
let gone = 0;
// What each client saw pause, in order: the line, and its own breakpoints hit.
const seen = { a: [], b: [] };
let waiter = null;
function record(name, client, resumes) {
  client.on('Debugger.paused', async (p) => {
    // (node 20 leaves the frame's url empty: the line is enough here, the
    // script being the only one that pauses.)
    const top = p.callFrames[0];
    seen[name].push({ line: top.location.lineNumber, hits: p.hitBreakpoints, reason: p.reason });
    if (name === 'a' && p.hitBreakpoints.length > 0) {
      const pid = await client.Runtime.evaluate({ expression: 'process.pid' });
      console.log(`pid ${pid.result.value} at line ${top.location.lineNumber}`);
    }
    if (waiter) waiter();
    if (resumes) await client.Debugger.resume().catch(() => {});
  });
  client.on('disconnect', () => gone++);
}
record('a', a, true);
record('b', b, false);
const hitsOf = (name) => seen[name].filter((s) => s.hits.length > 0);
async function until(cond) {
  while (!cond()) await new Promise((r) => (waiter = r));
  waiter = null;
}

say('breakpoints');
const ids = {};
for (const [name, c, line] of [['a', a, lineA], ['b', b, lineB]]) {
  await c.Runtime.enable();
  await c.Debugger.enable();
  ids[name] = (await c.Debugger.setBreakpointByUrl({ url, lineNumber: line })).breakpointId;
}

say('first process');
await a.Runtime.runIfWaitingForDebugger();
await b.Runtime.runIfWaitingForDebugger();
await until(() => hitsOf('a').length >= 1 && hitsOf('b').length >= 1);
assert.deepEqual(hitsOf('a').map((h) => h.line), [lineA]);
assert.deepEqual(hitsOf('b').map((h) => h.line), [lineB]);

const rl = readline.createInterface({ input: process.stdin });
const restarted = new Promise((r) => rl.once('line', r));
say('restart now');
await restarted;
seen.a = [];
seen.b = [];
say('after the restart');
await until(() => hitsOf('a').length >= 1 && hitsOf('b').length >= 1);
assert.deepEqual(hitsOf('a').map((h) => h.hits), [[ids.a]], 'A hit its own breakpoint');
assert.deepEqual(hitsOf('b').map((h) => h.hits), [[ids.b]], 'B hit its own breakpoint');
// A sees every pause: the script's lines in the order they ran.
const lines = seen.a.map((s) => s.line);
const [ia, ib] = [lines.indexOf(lineA), lines.indexOf(lineB)];
assert.ok(ia >= 0 && ib > ia, `in order: ${JSON.stringify(seen.a)}`);
const pid = await a.Runtime.evaluate({ expression: 'process.pid' });
console.log(`new pid ${pid.result.value}`);
assert.equal(gone, 0, 'no client was disconnected');
say('done');
await a.close();
await b.close();
rl.close();
