"""Live connections closed on revocation (CONTRACT.md section 15; docs/request-lifecycle.md
"Revoked while live"): two gateway instances on one Redis and one upstream; a WebSocket
tunnel and a streaming response held on instance B, authorised by a credential that is
then revoked through instance A (logout, logout-all, a replayed refresh token, the admin's
deactivation of the user, the API key's deletion), are closed within 1 s: the WebSocket
client gets a Close frame with 1008 and then the end of the connection, the upstream sees
its side closed, the stream's reader never sees a clean end of body. Another user's
tunnel stays open, and so do an API key's connections when its owner logs out everywhere
(logout-all does not revoke keys). Also: a tunnel on the same instance, and an upstream
frame under way when the revocation comes is delivered whole before the Close frame.
"""

import socket
import struct
import time

import pytest
import requests
import websocket

from conftest import free_port
from test_metrics import scrape, val
from test_account import logout
from test_admin_users import MH, patch
from test_api_keys import NS, create_ok, revoke
from test_api_keys import start as keys_start
from test_users import login_ok, make_user, redis_cmd, refresh_post

LIVE_PATHS = ["/api", "/ws", "/stream", "/partial"]


def start(gateway, redis_server, upstream, **over):
    cfg = {"access-token-paths": LIVE_PATHS, "metrics-listen": "127.0.0.1:%d" % free_port()}
    cfg.update(over)
    return keys_start(gateway, redis_server, upstream, **cfg)


def revoked_counts(gw):
    """authgate_revoked_connections_total of <gw> by kind, from its metrics port."""
    samples, _ = scrape(gw)
    return {k: val(samples, "authgate_revoked_connections_total", kind=k) for k in ("tunnel", "stream")}


def cred_header(cred):
    """('Authorization', 'Bearer ...') for a token, ('X-API-Key', key) for an API key."""
    return ("X-API-Key", cred) if cred.startswith("agk_") else ("Authorization", "Bearer " + cred)


def ws_open(gw, cred):
    """A WebSocket tunnel through <gw> to the upstream's echo, and its id there."""
    name, value = cred_header(cred)
    ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % gw.port,
                                     header=["%s: %s" % (name, value)], timeout=5)
    ws.send("id")
    return ws, int(ws.recv())


def ws_tunnels(upstream):
    r = requests.get(upstream.url + "/__ws", timeout=5)
    assert r.status_code == 200
    return r.json()


def wait_close_1008(ws):
    """Reads until the Close frame: returns its status code; then the gateway's FIN."""
    op, frame = ws.recv_data_frame(True)
    while op not in (websocket.ABNF.OPCODE_CLOSE,):
        op, frame = ws.recv_data_frame(True)
    code = struct.unpack("!H", frame.data[:2])[0]
    # recv_data_frame answered the Close; the gateway then ends the connection.
    ws.sock.settimeout(1.0)
    assert ws.sock.recv(1) == b""
    return code


class Stream:
    """A raw-socket GET /stream (chunked, one event every 50 ms) held open by its reader."""

    def __init__(self, gw, cred):
        name, value = cred_header(cred)
        self.sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        self.sock.sendall(("GET /stream?n=400&interval=0.05 HTTP/1.1\r\nHost: gw.test\r\n"
                           "%s: %s\r\n\r\n" % (name, value)).encode())
        self.buf = b""
        while b"data: 1\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "stream ended before its second event: %r" % self.buf
            self.buf += chunk
        assert self.buf.startswith(b"HTTP/1.1 200 "), self.buf[:200]
        assert b"\r\ntransfer-encoding: chunked\r\n" in self.buf.lower()

    def wait_cut(self):
        """Reads to the end: the connection ends (FIN or reset) without the last chunk."""
        self.sock.settimeout(2.0)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except ConnectionResetError:
            pass
        assert not self.buf.endswith(b"0\r\n\r\n"), "the stream ended cleanly"
        self.sock.close()


def hold(gw, cred):
    """A tunnel and a stream through <gw> authorised by <cred>, both live."""
    ws, wid = ws_open(gw, cred)
    return ws, wid, Stream(gw, cred)


def assert_closed_within_1s(t0, ws, wid, stream, upstream):
    assert wait_close_1008(ws) == 1008
    stream.wait_cut()
    took = time.monotonic() - t0
    assert took < 1.0, "closed %.3f s after the revocation" % took
    tunnels = ws_tunnels(upstream)
    deadline = time.monotonic() + 1.0
    while wid in tunnels["open"] and time.monotonic() < deadline:
        time.sleep(0.01)  # the upstream's thread notices the close on its next read
        tunnels = ws_tunnels(upstream)
    assert wid not in tunnels["open"] and wid in tunnels["closed"]
    return took


def assert_still_open(ws, wid, upstream):
    ws.send("still here")
    assert ws.recv() == "still here"
    assert wid in ws_tunnels(upstream)["open"]


def bystander(gw):
    """Another user's tunnel, which no revocation here may touch."""
    u = make_user(gw)
    return ws_open(gw, login_ok(gw, u["username"])["access_token"])


def run_case(gateway, redis_server, upstream, make, do_revoke):
    """make(a) -> (credential, state); do_revoke(a, state) revokes it through A."""
    a = start(gateway, redis_server, upstream)
    b = start(gateway, redis_server, upstream)
    cred, state = make(a)
    other, oid = bystander(b)
    ws, wid, stream = hold(b, cred)
    t0 = time.monotonic()
    do_revoke(a, state)
    assert_closed_within_1s(t0, ws, wid, stream, upstream)
    assert_still_open(other, oid, upstream)
    other.close()
    # a new request with the credential is refused as well, on both instances
    name, value = cred_header(cred)
    for gw in (a, b):
        assert requests.get(gw.url + "/api/x", headers={name: value}, timeout=5).status_code == 401
    return a, b, cred


def user_session(gw):
    u = make_user(gw)
    return u, login_ok(gw, u["username"])


def test_logout_on_a_closes_the_tunnel_and_the_stream_on_b(gateway, redis_server, upstream):
    def make(a):
        _, p = user_session(a)
        return p["access_token"], p["access_token"]

    a, b, tok = run_case(gateway, redis_server, upstream, make,
                         lambda a, tok: assert_ok(logout(a, tok)))
    # one line per closed connection, with the request id, never the token
    err = b.stderr()
    assert err.count("connection closed: revoked") == 2, err[-3000:]
    assert "websocket tunnel" in err and "response under way" in err and tok not in err
    assert revoked_counts(b) == {"tunnel": 1, "stream": 1}
    assert revoked_counts(a) == {"tunnel": 0, "stream": 0}


def assert_ok(r):
    assert r.status_code == 200, r.text


def test_logout_all_on_a_closes_every_session_on_b(gateway, redis_server, upstream):
    def make(a):
        u, p1 = user_session(a)
        p2 = login_ok(a, u["username"])
        return p1["access_token"], p2["access_token"]

    run_case(gateway, redis_server, upstream, make,
             lambda a, other_session: assert_ok(logout(a, other_session, all_=True)))


def test_refresh_reuse_on_a_closes_the_session_on_b(gateway, redis_server, upstream):
    def make(a):
        _, p1 = user_session(a)
        r = refresh_post(a, p1["refresh_token"])
        assert r.status_code == 200, r.text
        return r.json()["access_token"], p1["refresh_token"]

    def reuse(a, old_refresh):
        assert refresh_post(a, old_refresh).status_code == 401  # replayed: the session dies

    run_case(gateway, redis_server, upstream, make, reuse)


def test_admin_deactivation_on_a_closes_the_users_connections_on_b(gateway, redis_server,
                                                                    upstream):
    def make(a):
        u, p = user_session(a)
        return p["access_token"], u["id"]

    def deactivate(a, uid):
        r = patch(a, uid, {"is_active": False}, headers=MH)
        assert r.status_code == 200 and r.json()["is_active"] is False, r.text

    run_case(gateway, redis_server, upstream, make, deactivate)


def test_admin_role_removal_on_a_closes_the_users_connections_on_b(gateway, redis_server,
                                                                    upstream):
    def make(a):
        u = make_user(a)
        r = patch(a, u["id"], {"roles": ["editor"]}, headers=MH)
        assert r.status_code == 200 and r.json()["roles"] == ["editor"], r.text
        p = login_ok(a, u["username"])  # a token that carries the role
        return p["access_token"], u["id"]

    def take_role(a, uid):
        r = patch(a, uid, {"roles": []}, headers=MH)
        assert r.status_code == 200 and r.json()["roles"] == [], r.text

    run_case(gateway, redis_server, upstream, make, take_role)


def test_api_key_deletion_on_a_closes_its_connections_on_b(gateway, redis_server, upstream):
    def make(a):
        _, p = user_session(a)
        k = create_ok(a, p["access_token"])
        return k["key"], (p["access_token"], k["id"])

    def delete(a, state):
        access, kid = state
        assert revoke(a, access, kid).status_code == 204

    run_case(gateway, redis_server, upstream, make, delete)


def test_an_owners_logout_all_leaves_the_api_keys_connections_open(gateway, redis_server,
                                                                    upstream):
    """logout-all revokes the user's sessions and tokens, not their API keys (docs/api-keys.md):
    B looks the key up again (its owner changed since B loaded it) and keeps the key's tunnel
    and stream, while the session's own tunnel is closed. Deactivating the user then closes
    the key's connections as well."""
    a = start(gateway, redis_server, upstream)
    b = start(gateway, redis_server, upstream)
    u, p = user_session(a)
    key = create_ok(a, p["access_token"])["key"]
    ws, wid, stream = hold(b, key)
    session_ws, _ = ws_open(b, p["access_token"])
    # logout-all's watermark stays a second behind its time (ep_account.c): B's entry of the
    # key must be older than that for the watermark to pass it at all
    time.sleep(2.1)
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"], all_=True))
    assert wait_close_1008(session_ws) == 1008
    assert time.monotonic() - t0 < 1.0
    time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))  # the contract's 1 s for a close is over
    assert_still_open(ws, wid, upstream)
    n = stream.buf.count(b"data: ")
    while stream.buf.count(b"data: ") < n + 2:  # events at 50 ms: the stream goes on
        chunk = stream.sock.recv(65536)
        assert chunk, "the key's stream was closed"
        stream.buf += chunk
    for gw in (a, b):
        assert requests.get(gw.url + "/api/x", headers={"X-API-Key": key}, timeout=5).status_code == 200
    assert revoked_counts(b) == {"tunnel": 1, "stream": 0}

    t0 = time.monotonic()
    r = patch(a, u["id"], {"is_active": False}, headers=MH)
    assert r.status_code == 200 and r.json()["is_active"] is False, r.text
    assert_closed_within_1s(t0, ws, wid, stream, upstream)
    for gw in (a, b):
        assert requests.get(gw.url + "/api/x", headers={"X-API-Key": key}, timeout=5).status_code == 401


def test_logout_all_of_this_second_leaves_the_api_keys_connections_open(gateway, redis_server,
                                                                         upstream):
    """A user with more sessions than logout-all walks one by one (1024, store/user.c) gets a
    watermark of Redis's present second, not one behind: B's lookup of the key, sent in that
    second, loads an entry that the second's watermark would call old. It is B's own lookup,
    answered after the watermark's write, so it decides: the key's tunnel stays open."""
    a = start(gateway, redis_server, upstream)
    b = start(gateway, redis_server, upstream)
    u, p = user_session(a)
    key = create_ok(a, p["access_token"])["key"]
    ws, wid, stream = hold(b, key)
    future = str(int(time.time()) + 3600)
    args = []
    for i in range(1100):
        args += [future, "walk-past-%d" % i]
    redis_cmd(redis_server.port, "ZADD", "{%s}:usess:%s" % (NS, u["id"]), *args)
    time.sleep(2.1)  # B's entry of the key older than any watermark of the logout-all
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"], all_=True))
    time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
    assert_still_open(ws, wid, upstream)
    assert revoked_counts(b) == {"tunnel": 0, "stream": 0}
    for gw in (a, b):
        assert requests.get(gw.url + "/api/x", headers={"X-API-Key": key}, timeout=5).status_code == 200
    stream.sock.close()


def test_a_full_key_cache_does_not_close_the_keys_connections(gateway, redis_server, upstream):
    """17 keys of one owner live on B's one worker, its key cache of 16 (the least allowed):
    after the owner's logout-all the sweep looks the 17 up at once, and the 17th evicts the
    first one's entry while its lookup is under way. That exchange asks again, rather than
    taking a lookup that found no entry to fill for a failed one."""
    a = start(gateway, redis_server, upstream)
    b = start(gateway, redis_server, upstream, **{"workers": 1, "api-key-cache-size": 16})
    _, p = user_session(a)
    keys = [create_ok(a, p["access_token"], name="k%d" % i)["key"] for i in range(17)]
    tunnels = [ws_open(b, k) for k in keys]
    time.sleep(2.1)  # B's entries older than the logout-all's watermark
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"], all_=True))
    time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
    for ws, wid in tunnels:
        assert_still_open(ws, wid, upstream)
    assert revoked_counts(b) == {"tunnel": 0, "stream": 0}


def test_logout_on_the_same_instance_closes_its_tunnel(gateway, redis_server, upstream):
    a = start(gateway, redis_server, upstream)
    _, p = user_session(a)
    other, oid = bystander(a)
    ws, wid, stream = hold(a, p["access_token"])
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"]))
    assert_closed_within_1s(t0, ws, wid, stream, upstream)
    assert_still_open(other, oid, upstream)
    other.close()


def test_a_frame_under_way_is_delivered_whole_before_the_close(gateway, redis_server, upstream):
    a = start(gateway, redis_server, upstream)
    b = start(gateway, redis_server, upstream)
    _, p = user_session(a)
    ws, wid = ws_open(b, p["access_token"])
    # the upstream sends half of a 200 kB frame now, the rest 0.4 s later
    ws.send("slow 200000 0.4")
    time.sleep(0.1)  # places the revocation inside that frame
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"]))
    op, frame = ws.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_BINARY
    assert frame.data == b"w" * 200000
    assert wait_close_1008(ws) == 1008
    assert time.monotonic() - t0 < 1.0
    deadline = time.monotonic() + 1.0
    while wid in ws_tunnels(upstream)["open"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wid not in ws_tunnels(upstream)["open"]



def raw_get(gw, target, access, version="HTTP/1.1"):
    """A raw socket to <gw> that has sent GET <target> with <access>."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    s.sendall(("GET %s %s\r\nHost: gw.test\r\nAuthorization: Bearer %s\r\n\r\n"
               % (target, version, access)).encode())
    return s


def test_a_long_body_is_cut_short_of_its_length(gateway, redis_server, upstream):
    """A Content-Length response under way: the client gets fewer bytes than announced."""
    a = start(gateway, redis_server, upstream)
    b = start(gateway, redis_server, upstream)
    _, p = user_session(a)
    # the upstream sends half of the 200000 bytes, then nothing more
    s = raw_get(b, "/partial?n=200000", p["access_token"])
    buf = b""
    while len(buf.partition(b"\r\n\r\n")[2]) < 100000:
        chunk = s.recv(65536)
        assert chunk
        buf += chunk
    assert b"\r\ncontent-length: 200000\r\n" in buf.lower()
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"]))
    s.settimeout(2.0)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except ConnectionResetError:
        pass
    assert time.monotonic() - t0 < 1.0
    assert len(buf.partition(b"\r\n\r\n")[2]) == 100000
    s.close()


def test_an_http10_stream_is_reset_not_ended(gateway, redis_server, upstream):
    """An HTTP/1.0 client (nginx's proxy_http_version default) gets a chunked upstream
    stream close-delimited: a FIN would end that body cleanly, so the cut is a reset."""
    a = start(gateway, redis_server, upstream)
    _, p = user_session(a)
    s = raw_get(a, "/stream?n=400&interval=0.05", p["access_token"], "HTTP/1.0")
    buf = b""
    while b"data: 1\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    head = buf.partition(b"\r\n\r\n")[0].lower()
    assert b"transfer-encoding" not in head and b"content-length" not in head, head
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"]))
    s.settimeout(2.0)
    with pytest.raises(ConnectionResetError):
        while True:
            chunk = s.recv(65536)
            assert chunk, "the body ended cleanly %.3f s after the revocation" % (
                time.monotonic() - t0)
    assert time.monotonic() - t0 < 1.0
    s.close()


def test_a_tunnel_over_tls_gets_its_close_frame(gateway, redis_server, upstream, tmp_path):
    """The Close frame of a revoked tunnel goes out through the TLS layer, then the end."""
    from tlscerts import CA
    ca = CA(tmp_path, "live-ca")
    cert, key = ca.leaf("gw")
    tls_port = free_port()
    a = keys_start(gateway, redis_server, upstream, **{
        "access-token-paths": LIVE_PATHS, "tls-listen": "127.0.0.1:%d" % tls_port,
        "tls-cert-file": str(cert), "tls-key-file": str(key)})
    _, p = user_session(a)
    ws = websocket.create_connection("wss://localhost:%d/ws" % tls_port,
                                     header=["Authorization: Bearer " + p["access_token"]],
                                     sslopt={"ca_certs": str(ca.path)}, timeout=5)
    ws.send("over tls")
    assert ws.recv() == "over tls"
    t0 = time.monotonic()
    assert_ok(logout(a, p["access_token"]))
    op, frame = ws.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", frame.data[:2])[0] == 1008
    ws.sock.settimeout(1.0)
    assert ws.sock.recv(1) == b""
    assert time.monotonic() - t0 < 1.0
