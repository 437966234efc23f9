// Three chrome-remote-interface clients on one node --inspect through
// dbgproxy (issue #20): each its own inspector session, all numbering their
// commands from 1, so an answer routed to the wrong client fails here.
//
//   node tests/js/cdp_clients.mjs CLIENT_PORT SCRIPT_URL LINE
//
// LINE (0-based) is a line the script runs every few milliseconds. Steps:
// colliding ids; a breakpoint by URL hit by all; a late joiner told of the
// pause on Debugger.enable; a client leaving while paused; then it prints
// "restart now", waits for a line on stdin (the test has killed node and
// started it again), and checks that the pre-restart breakpoint hits in the
// new process for the clients that stayed. Exit 0 on success.

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

const [port, url, line] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
let step = 'start';
function say(what) {
  step = what;
  console.log(`step: ${what}`);
}
setTimeout(() => {
  console.error(`timed out at step: ${step}`);
  process.exit(2);
}, 30000).unref();

const connect = () => CDP({ host: '127.0.0.1', port });
const pausedOnce = (c) => new Promise((r) => c.once('Debugger.paused', r));
const resumedOnce = (c) => new Promise((r) => c.once('Debugger.resumed', r));

say('three clients');
const clients = [await connect(), await connect(), await connect()];
let gone = 0;
for (const c of clients) c.on('disconnect', () => gone++);

say('colliding ids');
for (let round = 0; round < 3; round++) {
  const values = await Promise.all(
    clients.map((c, i) => c.Runtime.evaluate({ expression: `${i} * 100 + ${round}` })),
  );
  assert.deepEqual(values.map((v) => v.result.value), [round, 100 + round, 200 + round]);
}

say('breakpoint seen by all');
for (const c of clients.slice(0, 2)) await c.Debugger.enable();
// Listening first: the pause may come in the same read as the answer.
const pauses = Promise.all(clients.slice(0, 2).map(pausedOnce));
const bp = await clients[0].Debugger.setBreakpointByUrl({ url, lineNumber: line });
assert.equal(bp.breakpointId, `1:${line}:0:${url}`);
const hits = await pauses;
assert.deepEqual(hits[0].hitBreakpoints, [bp.breakpointId]);
assert.deepEqual(hits[1].hitBreakpoints, [], 'only the setter names its breakpoint');
assert.equal(hits[0].callFrames[0].location.lineNumber, line);

say('late joiner told of the pause');
const late = pausedOnce(clients[2]);
await clients[2].Debugger.enable();
assert.equal((await late).reason, 'other');

say('a client leaving while paused');
await clients[1].close();
const top = hits[0].callFrames[0].callFrameId;
const still = await clients[2].Debugger.evaluateOnCallFrame({ callFrameId: top, expression: '1 + 1' });
assert.equal(still.result.value, 2, 'still paused for the others');
const resumed = Promise.all([resumedOnce(clients[0]), resumedOnce(clients[2])]);
await clients[2].Debugger.resume();
await resumed;
await clients[0].Debugger.removeBreakpoint({ breakpointId: bp.breakpointId });
await clients[2].Debugger.disable();

// Keep the first process from stopping at the next breakpoint before it
// is killed; the breakpoint, set by URL before the restart, is replayed
// to the next process by the proxy.
await clients[0].Debugger.setBreakpointsActive({ active: false });
const again = await clients[0].Debugger.setBreakpointByUrl({ url, lineNumber: line });
const hit = pausedOnce(clients[0]);
const rl = readline.createInterface({ input: process.stdin });
const restarted = new Promise((r) => rl.once('line', r));
say('restart now');
await restarted;
say('after the restart');
await clients[0].Debugger.setBreakpointsActive({ active: true });
const p = await hit;
assert.deepEqual(p.hitBreakpoints, [again.breakpointId]);
const pid = await clients[0].Runtime.evaluate({ expression: 'process.pid' });
console.log(`new pid ${pid.result.value}`);
await clients[0].Debugger.resume();
assert.equal(gone, 0, 'no client was disconnected');
say('done');
await clients[0].close();
await clients[2].close();
rl.close();
