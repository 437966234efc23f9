"""Records what real debugpy sends, for the DAP session's unit tests.

Run from the repository root:
    .deps/venv/bin/python src/session/dap/transcripts/record.py
It writes, next to this script, the raw framed bytes debugpy sent:
- attach.bin: `python -m debugpy --listen … --wait-for-client target.py`,
  a client that initializes, attaches, sets breakpoints, stops, inspects,
  steps, continues and disconnects;
- launch.bin: the adapter over stdio, a `launch` with an integrated terminal
  (the adapter's `runInTerminal` reverse request, answered by starting the
  command line it asks for), then `disconnect` with `terminateDebuggee`.
The client's side is in this script; the tests rebuild it by hand.
"""

import json
import os
import socket
import subprocess
import sys
import shutil
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.abspath(".deps/venv/bin/python")

TARGET = """import time
def work(i):
    x = i * 2
    print("tick", i)
    return x
for i in range(100000):
    work(i)
    time.sleep(0.05)
"""


class Conn:
    def __init__(self, rfile, wfile, close):
        self.rfile, self.wfile, self.close = rfile, wfile, close
        self.raw = bytearray()
        self.seq = 0

    def read(self):
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            b = self.rfile.read(1)
            if not b:
                return None
            header += b
        n = int(header.split(b":")[1].split(b"\r\n")[0])
        body = b""
        while len(body) < n:
            more = self.rfile.read(n - len(body))
            if not more:
                return None
            body += more
        self.raw += header + body
        msg = json.loads(body)
        print("<", json.dumps(msg)[:200], file=sys.stderr)
        return msg

    def send(self, msg):
        self.seq += 1
        msg = dict(seq=self.seq, **msg)
        data = json.dumps(msg).encode()
        print(">", data[:200], file=sys.stderr)
        self.wfile.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.wfile.flush()
        return self.seq

    def request(self, command, **arguments):
        return self.send(dict(type="request", command=command, arguments=arguments))

    def until(self, pred):
        while True:
            m = self.read()
            if m is None:
                raise EOFError("debugger closed")
            if pred(m):
                return m

    def response(self, seq):
        return self.until(lambda m: m.get("type") == "response" and m.get("request_seq") == seq)

    def event(self, name):
        return self.until(lambda m: m.get("type") == "event" and m.get("event") == name)

    def drain(self):
        while self.read() is not None:
            pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def record_attach(target):
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "debugpy", "--listen", f"127.0.0.1:{port}", "--wait-for-client", target]
    )
    try:
        for _ in range(100):
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        f = sock.makefile("rwb")
        c = Conn(f, f, sock.close)
        init = c.request("initialize", clientID="vscode", clientName="Visual Studio Code",
                         adapterID="python", linesStartAt1=True, columnsStartAt1=True,
                         pathFormat="path", supportsRunInTerminalRequest=True)
        c.response(init)
        attach = c.request("attach", justMyCode=True, redirectOutput=True)
        c.event("initialized")
        c.response(c.request("setBreakpoints", source=dict(path=target),
                             breakpoints=[dict(line=4), dict(line=3, condition="i > 1")]))
        c.response(c.request("setFunctionBreakpoints", breakpoints=[]))
        c.response(c.request("setExceptionBreakpoints", filters=["uncaught"]))
        c.response(c.request("configurationDone"))
        c.response(attach)
        stopped = c.event("stopped")
        tid = stopped["body"]["threadId"]
        c.response(c.request("threads"))
        frames = c.response(c.request("stackTrace", threadId=tid, startFrame=0, levels=20))
        c.response(c.request("scopes", frameId=frames["body"]["stackFrames"][0]["id"]))
        c.response(c.request("next", threadId=tid))
        c.event("stopped")
        c.response(c.request("continue", threadId=tid))
        c.event("stopped")
        c.response(c.request("setBreakpoints", source=dict(path=target), breakpoints=[]))
        c.response(c.request("continue", threadId=tid))
        time.sleep(0.3)
        c.request("disconnect", restart=False, terminateDebuggee=False)
        c.drain()
        return bytes(c.raw)
    finally:
        proc.kill()
        proc.wait()


def record_launch(target):
    proc = subprocess.Popen([PY, "-m", "debugpy.adapter"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    debuggee = None
    try:
        c = Conn(proc.stdout, proc.stdin, proc.stdin.close)
        c.response(c.request("initialize", clientID="vscode", clientName="Visual Studio Code",
                             adapterID="python", linesStartAt1=True, columnsStartAt1=True,
                             pathFormat="path", supportsRunInTerminalRequest=True,
                             supportsStartDebuggingRequest=True))
        launch = c.request("launch", program=target, console="integratedTerminal",
                           justMyCode=True)
        rit = c.until(lambda m: m.get("type") == "request")
        args = rit["arguments"]
        env = dict(os.environ)
        env.update({k: v for k, v in (args.get("env") or {}).items() if v is not None})
        debuggee = subprocess.Popen(args["args"], cwd=args.get("cwd") or None, env=env)
        c.send(dict(type="response", request_seq=rit["seq"], success=True,
                    command=rit["command"], body=dict(processId=debuggee.pid)))
        c.event("initialized")
        c.response(c.request("setBreakpoints", source=dict(path=target),
                             breakpoints=[dict(line=4)]))
        c.response(c.request("configurationDone"))
        c.response(launch)
        tid = c.event("stopped")["body"]["threadId"]
        c.response(c.request("continue", threadId=tid))
        c.event("stopped")
        c.request("disconnect", restart=False, terminateDebuggee=True)
        c.until(lambda m: m.get("type") == "event" and m.get("event") == "terminated")
        proc.stdin.close()
        c.drain()
        return bytes(c.raw)
    finally:
        for p in (debuggee, proc):
            if p is not None:
                p.kill()
                p.wait()


def main():
    # A fixed path, so that the transcripts do not change with each run's
    # temporary directory.
    d = "/tmp/dbgproxy-dap"
    os.makedirs(d, exist_ok=True)
    target = os.path.join(d, "target.py")
    with open(target, "w") as f:
        f.write(TARGET)
    try:
        for name, record in (("attach", record_attach), ("launch", record_launch)):
            data = record(target)
            with open(os.path.join(HERE, name + ".bin"), "wb") as f:
                f.write(data)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
