"""Two GDB/MI clients written with pygdbmi share one gdb through dbgproxy.

Run by tests/gdb_sessions.rs as `python gdb_shared.py CLIENT_PORT`, with the
venv .ci/deps makes (pygdbmi installed). pygdbmi's IoManager reads and
parses MI output from any pair of file objects: here the two halves of a TCP
connection to the proxy, so the records below are parsed by pygdbmi, not by
this script. Prints what each client received and `ok` last; exits 1 on the
first surprise.
"""

import select
import socket
import sys
import time

from pygdbmi.IoManager import IoManager

PORT = int(sys.argv[1])
DEADLINE = time.monotonic() + 12


def fail(why):
    print(f"FAILED: {why}", flush=True)
    sys.exit(1)


def check(cond, why):
    if not cond:
        fail(why)


class Client:
    """One MI client; every result record must answer its oldest command."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        self.sock.settimeout(None)
        self.io = IoManager(
            self.sock.makefile("wb"),
            self.sock.makefile("rb"),
            None,
            time_to_check_for_additional_output_sec=0.01,
        )
        self.pending = []  # parsed records not yet taken
        self.waiting = []  # tokens of commands not yet answered, oldest first

    def read(self, what):
        left = DEADLINE - time.monotonic()
        if left <= 0:
            fail(f"{self.name}: timed out waiting for {what}")
        got = self.io.get_gdb_response(
            timeout_sec=min(left, 0.5), raise_error_on_timeout=False
        )
        for r in got:
            print(f"{self.name} <- {r}", flush=True)
            if r["type"] == "result":
                check(self.waiting, f"{self.name}: a result it never asked for: {r}")
                want = self.waiting.pop(0)
                check(
                    r["token"] == want,
                    f"{self.name}: the next answer is for token {want}: {r}",
                )
            self.pending.append(r)

    def take(self, what, want):
        """The first record not yet taken that satisfies `want`."""
        while True:
            for i, r in enumerate(self.pending):
                if want(r):
                    return self.pending.pop(i)
            self.read(what)

    def notify(self, message):
        return self.take(
            f"={message} or *{message}",
            lambda r: r["type"] == "notify" and r["message"] == message,
        )

    def result(self, token):
        return self.take(
            f"the result of {token}",
            lambda r: r["type"] == "result" and r["token"] == token,
        )

    def send(self, token, command):
        self.waiting.append(token)
        self.io.write(f"{token}{command}", read_response=False)
        return self.result(token)

    def wait_closed(self):
        while True:
            left = DEADLINE - time.monotonic()
            if left <= 0:
                fail(f"{self.name}: the proxy did not close the connection")
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready and self.sock.recv(4096) == b"":
                return


a = Client("A")
b = Client("B")
for c in (a, b):
    greeting = c.notify("thread-group-added")
    check(greeting["payload"]["id"] == "i1", f"{c.name}: greeting {greeting}")

r = a.send(1, "-break-insert main")
check(r["message"] == "done", f"A: {r}")
number = r["payload"]["bkpt"]["number"]
created = b.notify("breakpoint-created")
check(
    created["payload"]["bkpt"]["number"] == number
    and created["payload"]["bkpt"]["func"] == "main",
    f"B: {created}",
)

r = a.send(2, "-exec-run")
check(r["message"] == "running", f"A: {r}")
for c in (a, b):
    stopped = c.notify("stopped")
    check(
        stopped["payload"]["reason"] == "breakpoint-hit"
        and stopped["payload"]["frame"]["func"] == "main",
        f"{c.name}: {stopped}",
    )

# The same token from both, sent before either reads its answer.
a.waiting.append(3)
a.io.write("3-data-evaluate-expression 1+1", read_response=False)
b.waiting.append(3)
b.io.write("3-data-evaluate-expression 2+2", read_response=False)
for c, want in ((a, "2"), (b, "4")):
    r = c.result(3)
    check(r["payload"]["value"] == want, f"{c.name}: {r}")

# A's goodbye is its own: answered, A closed, B's gdb kept.
r = a.send(4, "-gdb-exit")
check(r["message"] == "exit", f"A: {r}")
a.wait_closed()
r = b.send(5, "-data-evaluate-expression 3*3")
check(r["payload"]["value"] == "9", f"B: {r}")
r = b.send(6, "-exec-continue")
check(r["message"] == "running", f"B: {r}")
stopped = b.notify("stopped")
check(stopped["payload"]["reason"] == "exited-normally", f"B: {stopped}")
print("ok", flush=True)
