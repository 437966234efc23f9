// Two VS Code DebugClients (@vscode/debugadapter-testsupport) on one debugpy
// session through dbgproxy: both attach, each sets a breakpoint on its own
// line, both see every stop, one says goodbye, the other goes on debugging.
// Both number their requests from 1, so any answer routed to the wrong
// client resolves the wrong promise and fails an assertion here.
//
//   node tests/js/shared_session.mjs CLIENT_PORT SCRIPT LINE_A LINE_B
//
// LINE_A must come before LINE_B in the script's loop. The packages are
// looked up in $DBGPROXY_NODE_MODULES, else .deps/npm/node_modules (.ci/deps
// installs them there). Exit 0 on success; 1 on a failed step; 2 on timeout.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules =
  process.env.DBGPROXY_NODE_MODULES || path.join(here, '..', '..', '.deps', 'npm', 'node_modules');
// Resolve from the folder that holds node_modules (ES imports ignore NODE_PATH).
const require = createRequire(path.join(modules, '..', 'resolve-from-here.js'));
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const [port, script, lineA, lineB] = [
  Number(process.argv[2]),
  process.argv[3],
  Number(process.argv[4]),
  Number(process.argv[5]),
];
assert.ok(port > 0 && script && lineA > 0 && lineB > lineA, 'usage: PORT SCRIPT LINE_A LINE_B');

let step = 'start';
function say(what) {
  step = what;
  console.log(`step: ${what}`);
}
// DebugClient has no timeouts when connected to a port: this is ours.
setTimeout(() => {
  console.error(`timed out at step: ${step}`);
  process.exit(2);
}, 15000);

const attachArgs = { justMyCode: false, redirectOutput: true };
const initArgs = (name) => ({
  clientID: `debugclient-${name}`,
  clientName: `DebugClient ${name}`,
  adapterID: 'debugpy',
  linesStartAt1: true,
  columnsStartAt1: true,
  pathFormat: 'path',
});
const bps = (line) => ({ source: { path: script }, breakpoints: [{ line }] });

function lines(response) {
  return response.body.breakpoints.map((b) => {
    assert.equal(b.verified, true, JSON.stringify(response));
    return b.line;
  });
}

async function main() {
  const a = new DebugClient('unused', 'unused', 'python');
  const b = new DebugClient('unused', 'unused', 'python');
  say('connect both');
  await a.start(port);
  await b.start(port);

  say('A: initialize, attach');
  const caps = await a.initializeRequest(initArgs('A'));
  assert.equal(caps.body.supportsConfigurationDoneRequest, true);
  let initialized = a.waitForEvent('initialized');
  const attachA = a.attachRequest(attachArgs);
  await initialized;

  say('B: initialize (from the cache), attach');
  initialized = b.waitForEvent('initialized');
  const capsB = await b.initializeRequest(initArgs('B'));
  assert.deepEqual(capsB.body, caps.body, 'the same capabilities');
  await initialized;
  const attachB = b.attachRequest(attachArgs);

  say('setBreakpoints: each its own line, each answered with its own');
  assert.deepEqual(lines(await a.setBreakpointsRequest(bps(lineA))), [lineA]);
  assert.deepEqual(lines(await b.setBreakpointsRequest(bps(lineB))), [lineB]);

  say('configurationDone: both stop at A\'s line');
  let stops = [a, b].map((c) => c.assertStoppedLocation('breakpoint', { path: script, line: lineA }));
  await a.configurationDoneRequest();
  await b.configurationDoneRequest();
  await attachA;
  await attachB;
  const [trace] = await Promise.all(stops);
  const frameId = trace.body.stackFrames[0].id;

  say('both evaluate at once, each gets its own answer');
  const [ea, eb] = await Promise.all([
    a.evaluateRequest({ expression: "'from A'", frameId, context: 'repl' }),
    b.evaluateRequest({ expression: "'from B'", frameId, context: 'repl' }),
  ]);
  assert.equal(ea.body.result, "'from A'");
  assert.equal(eb.body.result, "'from B'");

  say('A continues: both stop at B\'s line');
  const threads = await a.threadsRequest();
  const threadId = threads.body.threads[0].id;
  stops = [a, b].map((c) => c.assertStoppedLocation('breakpoint', { path: script, line: lineB }));
  await a.continueRequest({ threadId });
  const [traceB] = await Promise.all(stops);
  const frameB = traceB.body.stackFrames[0].id;

  say('A says goodbye: answered, and its connection closes');
  const closed = new Promise((resolve) => a._socket.once('close', resolve));
  await a.disconnectRequest({ restart: false });
  await closed;

  say('B still gets answers');
  const threadsB = await b.threadsRequest();
  assert.equal(threadsB.body.threads[0].id, threadId);
  const before = await b.evaluateRequest({ expression: 'counter', frameId: frameB, context: 'repl' });

  say('B continues: the program runs and stops again');
  const stopped = b.waitForEvent('stopped');
  await b.continueRequest({ threadId });
  const event = await stopped;
  const where = await b.stackTraceRequest({ threadId: event.body.threadId });
  const top = where.body.stackFrames[0];
  assert.ok([lineA, lineB].includes(top.line), `stopped at ${top.line}`);
  const after = await b.evaluateRequest({ expression: 'counter', frameId: top.id, context: 'repl' });
  assert.ok(Number(after.body.result) > Number(before.body.result), 'the loop went round');

  say('B says goodbye too');
  await b.disconnectRequest({ restart: false });
  console.log('ok');
  process.exit(0);
}

main().catch((err) => {
  console.error(`failed at step: ${step}\n${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
