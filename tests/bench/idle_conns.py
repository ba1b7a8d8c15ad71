#!/usr/bin/python3
"""Hold N idle keep-alive client connections to 127.0.0.1:PORT (for tests/bench/mem.sh).

usage: idle_conns.py PORT N [PATH] [MAX_HOLD_S]

On each of N connections: connect, send one "GET PATH HTTP/1.1", read the whole
response (must be a 200 with a Content-Length body), keep the socket open.
Then print "READY opened=N ok=K" and hold everything until stdin reaches EOF
(or MAX_HOLD_S seconds, default 300, pass), then print "CLOSED still_open=M"
(connections the server had not closed) and exit. Connects to 127.0.0.1 only.
"""
import resource
import select
import socket
import sys
import time


def get(sock: socket.socket, request: bytes) -> bool:
    """Send one request and read its full response; True if it was a 200."""
    sock.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    return head.split(b" ", 2)[1:2] == [b"200"]


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    port, n = int(sys.argv[1]), int(sys.argv[2])
    path = sys.argv[3] if len(sys.argv) > 3 else "/"
    max_hold = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if n + 20 > hard:
        sys.exit(f"idle_conns: need {n + 20} file descriptors, the limit is {hard}")

    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    socks, ok = [], 0
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
        ok += get(s, request)
    print(f"READY opened={len(socks)} ok={ok}", flush=True)

    deadline = time.monotonic() + max_hold
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sys.stdin], [], [], min(left, 1.0))
        if readable and not sys.stdin.buffer.read1(4096):
            break  # EOF: the caller is done measuring

    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            still_open += s.recv(1) != b""  # b"" = the server closed it
        except BlockingIOError:
            still_open += 1  # nothing to read: still open
        except OSError:
            pass
        s.close()
    print(f"CLOSED still_open={still_open}", flush=True)


if __name__ == "__main__":
    main()
