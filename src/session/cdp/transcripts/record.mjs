// Records what real node 20 says over its inspector, for the CDP session's
// unit tests. Run from the repository root:
//     node --experimental-websocket src/session/cdp/transcripts/record.mjs
// It writes next to this script, one message a line, each tagged:
//   `> ` a client's (or, with an id from -2147483648 up, dbgproxy's own)
//   request to node, `< ` node's answer or event, `! up` / `! lost` the
//   upstream session opening and closing, `# ` a comment.
// Each upstream session starts with dbgproxy's own
// NodeRuntime.notifyWhenWaitingForDisconnect, as the session module sends it.
// - restart.cdp: `--inspect-brk`: a client enables, sets its setup and a
//   breakpoint by URL, releases, pauses on start, hits the breakpoint,
//   resumes; the program ends (waitingForDisconnect); then a second
//   process, where dbgproxy's replay (own ids) sets the same up before the
//   release, and the breakpoint hits again.
// - disconnect.cdp: `--inspect`, a client that asks for
//   NodeRuntime.waitingForDisconnect; runIfWaitingForDebugger when node does
//   not wait; ids node refuses; the program's end.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIR = '/tmp/dbgproxy-cdp';
const TARGET = join(DIR, 'target.js');
const URL_ = pathToFileURL(TARGET).href;
const OWN = -2147483648;
// dbgproxy's own ids, counting on across processes.
let own = OWN;
// What dbgproxy sends first on each upstream session: node then tells the
// session the program's end even when its client has no Runtime enabled
// (and sends it no executionContextDestroyed).
const NOTIFY = ['NodeRuntime.notifyWhenWaitingForDisconnect', { enabled: true }];

mkdirSync(DIR, { recursive: true });
writeFileSync(TARGET, [
  'const add = (a, b) => a + b;',
  'let total = 0;',
  'for (let i = 0; i < 3; i++) total = add(total, i);',
  'console.log("total", total);',
  'setTimeout(() => console.log("done"), 50);',
  '',
].join('\n'));

class Session {
  constructor(lines) { this.lines = lines; this.waiters = []; this.seen = []; }
  async open(args) {
    this.child = spawn(process.execPath, [...args, TARGET], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const url = await new Promise((resolve, reject) => {
      this.child.stderr.on('data', (d) => {
        err += d;
        const m = err.match(/ws:\/\/\S+/);
        if (m) resolve(m[0]);
      });
      this.child.on('exit', () => reject(new Error(err)));
    });
    this.ws = new WebSocket(url);
    await new Promise((r) => { this.ws.onopen = r; });
    this.lines.push('! up');
    this.closed = new Promise((r) => { this.ws.onclose = () => { this.lines.push('! lost'); r(); }; });
    this.ws.onmessage = (e) => {
      this.lines.push('< ' + e.data);
      const msg = JSON.parse(e.data);
      const waiter = this.waiters.find((w) => w.test(msg));
      if (!waiter) return this.seen.push(msg);
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(msg);
    };
  }
  send(id, method, params) {
    const text = JSON.stringify(params === undefined ? { id, method } : { id, method, params });
    this.lines.push('> ' + text);
    this.ws.send(text);
    return this.until((m) => m.id === id);
  }
  until(test) {
    const old = this.seen.find(test);
    if (old) { this.seen.splice(this.seen.indexOf(old), 1); return Promise.resolve(old); }
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
  event(method) { return this.until((m) => m.method === method); }
  async close() { this.ws.close(); await this.closed; await new Promise((r) => this.child.on('exit', r)); }
}

async function restart() {
  const lines = ['# node ' + process.version + ' --inspect-brk, then a restart'];
  const s = new Session(lines);
  await s.open(['--inspect-brk=127.0.0.1:0']);
  await s.send(own++, ...NOTIFY);
  await s.send(1, 'Runtime.enable');
  await s.send(2, 'Debugger.enable', { maxScriptsCacheSize: 10000000 });
  await s.send(3, 'Debugger.setPauseOnExceptions', { state: 'uncaught' });
  await s.send(4, 'Debugger.setAsyncCallStackDepth', { maxDepth: 32 });
  await s.send(5, 'Debugger.setBlackboxPatterns', { patterns: ['/node_modules/'] });
  await s.send(6, 'Debugger.setBreakpointByUrl', { lineNumber: 3, url: URL_, columnNumber: 0 });
  // A failure: the same place again.
  await s.send(7, 'Debugger.setBreakpointByUrl', { lineNumber: 3, url: URL_, columnNumber: 0 });
  await s.send(8, 'Debugger.setBreakpointByUrl', { lineNumber: 2, url: URL_ });
  await s.send(9, 'Debugger.removeBreakpoint', { breakpointId: `1:2:0:${URL_}` });
  await s.send(10, 'Runtime.runIfWaitingForDebugger');
  await s.event('Debugger.paused');
  await s.send(11, 'Debugger.resume');
  const hit = await s.event('Debugger.paused');
  const callFrameId = hit.params.callFrames[0].callFrameId;
  await s.send(12, 'Debugger.evaluateOnCallFrame', { callFrameId, expression: 'total' });
  await s.send(13, 'Debugger.resume');
  await s.event('NodeRuntime.waitingForDisconnect');
  lines.push('# dbgproxy closes its session so that node can exit');
  await s.close();

  lines.push('# the next process: dbgproxy replays the client\'s setup');
  const t = new Session(lines);
  await t.open(['--inspect-brk=127.0.0.1:0']);
  const replay = [
    NOTIFY,
    ['Runtime.enable'],
    ['Debugger.enable', { maxScriptsCacheSize: 10000000 }],
    ['Debugger.setPauseOnExceptions', { state: 'uncaught' }],
    ['Debugger.setAsyncCallStackDepth', { maxDepth: 32 }],
    ['Debugger.setBlackboxPatterns', { patterns: ['/node_modules/'] }],
    ['Debugger.setBreakpointByUrl', { lineNumber: 3, url: URL_, columnNumber: 0 }],
  ];
  await Promise.all(replay.map(([m, p]) => t.send(own++, m, p)));
  await t.send(own++, 'Runtime.runIfWaitingForDebugger');
  await t.event('Debugger.paused');
  await t.send(14, 'Debugger.resume');
  await t.event('Debugger.paused');
  await t.send(15, 'Debugger.resume');
  await t.event('NodeRuntime.waitingForDisconnect');
  await t.close();
  return lines;
}

async function disconnect() {
  const lines = ['# node ' + process.version + ' --inspect, waitingForDisconnect'];
  const s = new Session(lines);
  await s.open(['--inspect=127.0.0.1:0']);
  own = OWN;
  await s.send(own++, ...NOTIFY);
  await s.send(1, 'NodeRuntime.notifyWhenWaitingForDisconnect', { enabled: true });
  await s.send(2, 'Runtime.enable');
  await s.send(3, 'Runtime.runIfWaitingForDebugger');
  // When node does not wait, the release is answered all the same.
  await s.send(OWN + 100, 'Runtime.runIfWaitingForDebugger');
  await s.send(4, 'Runtime.evaluate', { expression: '6*7' });
  // Outside int32: node answers without an id, then blames the last good id.
  const big = '{"id":2147483648,"method":"Runtime.evaluate","params":{"expression":"1"}}';
  s.lines.push('> ' + big);
  s.ws.send(big);
  await s.until((m) => m.id === 4 && m.error);
  await s.event('NodeRuntime.waitingForDisconnect');
  await s.close();
  return lines;
}

writeFileSync(join(HERE, 'restart.cdp'), (await restart()).join('\n') + '\n');
writeFileSync(join(HERE, 'disconnect.cdp'), (await disconnect()).join('\n') + '\n');
