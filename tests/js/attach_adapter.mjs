// Two VS Code DebugClients (@vscode/debugadapter-testsupport) that each
// start `dbgproxy attach … --backend dap` as their debug adapter
// executable, as nvim-dap or Helix would: the first one's attach starts the
// proxy, both share one debugpy session, then the proxy is stopped and a
// new one started under them, and both go on debugging without noticing
// (their requests keep their own numbering, their breakpoints are set
// again, the program stops again). Each checks the breakpoint ids it is
// told in stops: its own breakpoint's id, the one it was given before the
// restart too, and never the other's (issue #18).
//
//   node tests/js/attach_adapter.mjs DBGPROXY PORT SCRIPT LINE_A LINE_B
//
// The proxy's control socket, pidfile and log live in $XDG_RUNTIME_DIR. The
// packages are looked up in $DBGPROXY_NODE_MODULES, else .deps/npm/node_modules.
// Exit 0 on success; 1 on a failed step; 2 on timeout.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules =
  process.env.DBGPROXY_NODE_MODULES || path.join(here, '..', '..', '.deps', 'npm', 'node_modules');
const require = createRequire(path.join(modules, '..', 'resolve-from-here.js'));
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const [bin, port, script, lineA, lineB] = [
  process.argv[2],
  Number(process.argv[3]),
  process.argv[4],
  Number(process.argv[5]),
  Number(process.argv[6]),
];
assert.ok(bin && port > 0 && script && lineA > 0 && lineB > lineA, 'usage: DBGPROXY PORT SCRIPT LINE_A LINE_B');

let step = 'start';
function say(what) {
  step = what;
  console.log(`step: ${what}`);
}
const logs = {};
function dumpLogs() {
  for (const [name, text] of Object.entries(logs)) {
    console.error(`--- attach ${name} stderr ---\n${text}`);
  }
}
setTimeout(() => {
  console.error(`timed out at step: ${step}`);
  dumpLogs();
  process.exit(2);
}, 60000);

const proxyArgs = ['--backend', 'dap', '--mode', 'persistent', '--port', String(port), '--retry-interval', '50'];
const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

// DebugClient spawns `runtime executable` with the spawn options given: a
// shell that execs attach, so that the adapter process is attach itself.
function client(name) {
  const command = ['exec', bin, 'attach', ...proxyArgs].map(quote).join(' ').replace(/^'exec'/, 'exec');
  const dc = new DebugClient(command, '', 'python', { shell: true });
  dc.name = name;
  logs[name] = '';
  const start = dc.start.bind(dc);
  dc.start = async () => {
    await start();
    const proc = dc._adapterProcess;
    proc.stderr.on('data', (d) => (logs[name] += d.toString()));
    dc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  };
  return dc;
}

// The next `name` event of `dc` (DebugClient's own waits give up after 5 s,
// too soon for a proxy restart on a busy machine).
function next(dc, name) {
  return new Promise((resolve) => dc.once(name, resolve));
}

async function stoppedAt(dc, lines) {
  const event = await next(dc, 'stopped');
  const trace = await dc.stackTraceRequest({ threadId: event.body.threadId });
  const top = trace.body.stackFrames[0];
  assert.ok(lines.includes(top.line), `${dc.name} stopped at ${top.line}, not ${lines}`);
  if (dc.bpId !== undefined) {
    const own = top.line === dc.bpLine ? [dc.bpId] : [];
    assert.deepEqual(
      event.body.hitBreakpointIds,
      own,
      `${dc.name} (breakpoint ${dc.bpId} at ${dc.bpLine}) stopped at ${top.line}`,
    );
  }
  return { threadId: event.body.threadId, frameId: top.id, line: top.line };
}

const initArgs = (name) => ({
  clientID: `attach-${name}`,
  clientName: `DebugClient via attach ${name}`,
  adapterID: 'debugpy',
  linesStartAt1: true,
  columnsStartAt1: true,
  pathFormat: 'path',
});
const attachArgs = { justMyCode: false, redirectOutput: true };
const bps = (line) => ({ source: { path: script }, breakpoints: [{ line }] });

async function handshake(dc, line, stops) {
  const initialized = next(dc, 'initialized');
  const caps = await dc.initializeRequest(initArgs(dc.name));
  assert.equal(caps.body.supportsConfigurationDoneRequest, true);
  const attach = dc.attachRequest(attachArgs);
  await initialized;
  const set = await dc.setBreakpointsRequest(bps(line));
  assert.deepEqual(set.body.breakpoints.map((b) => b.line), [line]);
  dc.bpLine = line;
  dc.bpId = set.body.breakpoints[0].id;
  assert.equal(typeof dc.bpId, 'number', JSON.stringify(set.body));
  await dc.configurationDoneRequest();
  await attach;
  return stops;
}

async function evaluate(dc, expression, frameId) {
  const r = await dc.evaluateRequest({ expression, frameId, context: 'repl' });
  return r.body.result;
}

async function main() {
  const a = client('A');
  const b = client('B');

  say('A: its attach starts the proxy; A attaches and stops at its line');
  await a.start();
  let stopA = stoppedAt(a, [lineA]);
  await handshake(a, lineA);
  stopA = await stopA;

  say('B: its attach joins the proxy; B learns the stop');
  await b.start();
  let stopB = stoppedAt(b, [lineA]);
  await handshake(b, lineB);
  stopB = await stopB;

  say('both evaluate at once, each gets its own answer');
  const [ea, eb] = await Promise.all([
    evaluate(a, "'from A'", stopA.frameId),
    evaluate(b, "'from B'", stopB.frameId),
  ]);
  assert.equal(ea, "'from A'");
  assert.equal(eb, "'from B'");
  const counter = Number(await evaluate(a, 'counter', stopA.frameId));

  say('the proxy is stopped, and a new one started under them');
  const continued = [a, b].map((dc) => next(dc, 'continued'));
  const stops = [a, b].map((dc) => stoppedAt(dc, [lineA, lineB]));
  execFileSync(bin, ['stop', '--port', String(port)], { stdio: ['ignore', 'inherit', 'inherit'] });
  // Asked while the proxy is away: answered once it is back.
  const threads = [a, b].map((dc) => dc.threadsRequest());
  const runtime = path.join(process.env.XDG_RUNTIME_DIR, 'dbgproxy');
  execFileSync(
    bin,
    [...proxyArgs, '--daemon', '--pidfile', path.join(runtime, 'replacement.pid'),
      '--log-file', path.join(runtime, 'replacement.log')],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );

  say('both are told the program goes on, and their requests are answered');
  await Promise.all(continued);
  for (const t of await Promise.all(threads)) {
    assert.equal(t.body.threads[0].id, stopA.threadId);
  }

  say('their breakpoints are back: the program stops again, for both');
  const [againA, againB] = await Promise.all(stops);
  const later = Number(await evaluate(a, 'counter', againA.frameId));
  assert.ok(later > counter, `the loop went on: counter ${later} after ${counter}`);
  assert.equal(await evaluate(b, "'B again'", againB.frameId), "'B again'");

  say('both said so on stderr');
  for (const name of ['A', 'B']) {
    assert.match(logs[name], /proxy on 127\.0\.0\.1:\d+ away \(.*\); retrying/, logs[name]);
    assert.match(logs[name], /proxy on 127\.0\.0\.1:\d+ back after \d+\.\ds/, logs[name]);
  }

  say('A continues: both stop again');
  const next2 = [a, b].map((dc) => stoppedAt(dc, [lineA, lineB]));
  await a.continueRequest({ threadId: againA.threadId });
  await Promise.all(next2);

  say('goodbyes: each attach ends with 0');
  for (const dc of [a, b]) {
    await dc.disconnectRequest({ restart: false });
    const { code, signal } = await dc.exited;
    assert.equal(code, 0, `attach ${dc.name} exited with ${code} (${signal})`);
  }
  console.log('ok');
  process.exit(0);
}

main().catch((err) => {
  console.error(`failed at step: ${step}\n${err && err.stack ? err.stack : err}`);
  dumpLogs();
  process.exit(1);
});
