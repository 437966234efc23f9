"""Records what real node 20 sends on its inspector port, for the CDP wire
layer's unit tests (src/protocol/cdp/).

Run from the repository root:
    python3 src/protocol/cdp/transcripts/record.py
It starts `node --inspect=127.0.0.1:0` on a script that runs forever, reads
the port from node's stderr, and writes, next to this script, the raw bytes
node sent (byte-exact, over a raw TCP socket; the requests are in this
script and in the tests):
- list.bin: the answer to `GET /json/list` (Host: 127.0.0.1:PORT);
- version.bin: the answer to `GET /json/version`;
- refused.bin: the answer to `GET /json/new` (node's 400);
- upgrade.bin: the 101 to an upgrade with the RFC 6455 sample key;
- frames.bin: node's frames after the upgrade: the answer to one
  `Runtime.evaluate` (id 1, `1+2`, sent masked with the zero key), then
  its close frame after ours.
The ids and port change with every run; the tests read them from list.bin.
"""

import json
import os
import re
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3's sample


def http(port, request):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(request)
    data = b""
    while True:
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length: *(\d+)", head)
        if _ and m and len(body) >= int(m.group(1)):
            break
        more = s.recv(65536)
        if not more:
            break
        data += more
    s.close()
    return data


def frame(payload, opcode=1, mask=None):
    # A masked client frame, as a client must send it.
    mask = mask or os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(s, buf):
    # Returns (raw frame bytes, rest of buf); node's frames are unmasked.
    def need(n):
        nonlocal buf
        while len(buf) < n:
            more = s.recv(65536)
            if not more:
                raise EOFError
            buf += more
    need(2)
    n, at = buf[1] & 0x7F, 2
    if n == 126:
        need(4)
        n, at = int.from_bytes(buf[2:4], "big"), 4
    elif n == 127:
        need(10)
        n, at = int.from_bytes(buf[2:10], "big"), 10
    need(at + n)
    return buf[: at + n], buf[at + n :]


def main():
    node = subprocess.Popen(
        ["node", "--inspect=127.0.0.1:0", "-e", "setInterval(()=>{},1000)"],
        stderr=subprocess.PIPE,
    )
    try:
        line = node.stderr.readline().decode()
        port = int(re.search(r"ws://127\.0\.0\.1:(\d+)/", line).group(1))
        host = b"Host: 127.0.0.1:%d\r\n" % port
        out = {}
        out["list"] = http(port, b"GET /json/list HTTP/1.1\r\n" + host + b"\r\n")
        out["version"] = http(port, b"GET /json/version HTTP/1.1\r\n" + host + b"\r\n")
        out["refused"] = http(port, b"GET /json/new HTTP/1.1\r\n" + host + b"\r\n")
        body = out["list"].partition(b"\r\n\r\n")[2]
        path = json.loads(body)[0]["webSocketDebuggerUrl"].split(str(port))[1]
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(
            b"GET %s HTTP/1.1\r\n" % path.encode() + host
            + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            + b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        out["upgrade"] = head + b"\r\n\r\n"
        # With the zero key, as the proxy masks toward node (ws.rs): node
        # answers, so it takes it.
        evaluate = b'{"id":1,"method":"Runtime.evaluate","params":{"expression":"1+2"}}'
        s.sendall(frame(evaluate, mask=bytes(4)))
        answer, buf = read_frame(s, buf)
        s.sendall(frame(b"\x03\xe8", opcode=8))
        close, buf = read_frame(s, buf)
        out["frames"] = answer + close
        s.close()
        for name, data in out.items():
            with open(os.path.join(HERE, name + ".bin"), "wb") as f:
                f.write(data)
            print(name, len(data), data[:120], file=sys.stderr)
    finally:
        node.kill()
        node.wait()


main()
