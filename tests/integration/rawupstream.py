"""A misbehaving upstream on a raw socket, for tests where upstream.py is too polite.

RawUpstream(handler) listens on 127.0.0.1 and runs handler(conn, n) in a thread for
the n-th accepted connection (0-based). The handler reads request heads with
read_head() and writes whatever bytes it likes with conn.sendall(). .url is the
address for the gateway's "upstream"; .heads lists (n, head bytes) received, in order.
"""

import os
import socket
import threading
import time


class RawUpstream:
    def __init__(self, handler):
        self.handler = handler
        self.heads = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.conns = []
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        n = 0
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(c)
            threading.Thread(target=self._run, args=(c, n), daemon=True).start()
            n += 1

    def _run(self, c, n):
        try:
            self.handler(RawUpstreamConn(self, c, n), n)
        except OSError:
            pass

    @property
    def n_conns(self):
        return len(self.conns)

    def stop(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


class RawUpstreamConn:
    def __init__(self, up, sock, n):
        self.up, self.sock, self.n = up, sock, n
        self.buf = b""

    def read_head(self, timeout=10):
        """The next request head (bodies are not expected), or None at EOF."""
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        with self.up.lock:
            self.up.heads.append((self.n, head))
        return head

    def target(self, head):
        return head.split(b"\r\n", 1)[0].split(b" ")[1].decode()

    def sendall(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


def response(body, extra=b""):
    """A well-formed 200 with Content-Length."""
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
            % (len(body), extra, body))


def wait_stopped(pid, timeout=5.0):
    """Waits until every thread of <pid> is stopped: SIGSTOP is delivered asynchronously,
    and a test that freezes the gateway to line up two events must not race it."""
    deadline = time.monotonic() + timeout
    states = []
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(st in ("T", "t") for st in states):
            return
        time.sleep(0.01)
    raise AssertionError("gateway did not stop: %r" % states)
