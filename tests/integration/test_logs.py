"""What the logs say (CONTRACT.md section 8 "No credential reaches a log", issue 9
points 2 and 24; docs/operations.md#logs): credential-named query parameters redacted
in every line, a request id in the access line, in error lines and upstream as
X-Request-Id (a client's own kept only from a trusted proxy), upstream failures naming
method, path, upstream and cause, Redis outages as warnings naming the address and
never the password.
"""

import json
import re
import time

import requests

from conftest import free_port, hdr_all, simple_get
from test_tokens import MASTER, new_pair, refresh_get, start

OUR_ID = re.compile(r"^[0-9a-f]{12}-[0-9a-f]{12}$")


def access_lines(path, n, timeout=5.0):
    """The first <n> JSON lines of access log <path>, once they are there (the logger
    thread hands lines over every 100 ms)."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n:
            break
        time.sleep(0.05)
    assert len(lines) >= n, lines
    return [json.loads(line) for line in lines]


def access_until(path, pred, timeout=5.0):
    """The JSON lines of access log <path> once one of them satisfies <pred>."""
    deadline = time.monotonic() + timeout
    recs = []
    while time.monotonic() < deadline:
        recs = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if any(pred(x) for x in recs):
            return recs
        time.sleep(0.05)
    raise AssertionError("no such access line: %r" % recs)


def stderr_line(gw, needle, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in gw.stderr().splitlines() if needle in line]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("no %r line in stderr:\n%s" % (needle, gw.stderr()[-3000:]))


# ---------------------------------------------------------------- redaction (point 2)

def assert_secret_absent(text, secret):
    """Neither <secret> nor any 16-byte piece of it is in <text>."""
    for i in range(0, max(1, len(secret) - 15)):
        assert secret[i:i + 16] not in text, "credential bytes in the log at %d" % text.find(secret[i:i + 16])


def test_legacy_refresh_leaves_no_token_in_the_access_log_file_or_stderr(gateway, redis_server, tmp_path):
    log = tmp_path / "access.log"
    gw = start(gateway, redis_server, **{"access-log": str(log)})
    p = new_pair(gw, "c1")
    r = refresh_get(gw, p["refresh_token"])
    assert r.status_code == 200, r.text
    fresh = r.json()["data"]
    recs = access_until(log, lambda x: x["path"].startswith("/auth/token/refresh"))
    refresh = [x for x in recs if x["path"].startswith("/auth/token/refresh")]
    assert [x["path"] for x in refresh] == ["/auth/token/refresh?refresh_token=[REDACTED]"]
    gw.stop()
    for text in (log.read_text(), gw.stderr()):
        for secret in (p["refresh_token"], p["access_token"], fresh["refresh_token"],
                       fresh["access_token"], MASTER):
            assert_secret_absent(text, secret)


def test_access_log_on_stderr_redacts_every_credential_named_parameter(upstream, gateway):
    gw = gateway({"access-log": "stderr"})
    c = gw.raw()
    c.send(simple_get("/echo/x?q=1&access_token=AT-secret-0001&API-KEY=ak-secret-0002"
                      "&client%5Fsecret=cs-secret-0003;password=pw-secret-0004#id_token=it-secret-0005"))
    c.read_response()
    line = stderr_line(gw, '"path":"/echo/x?')[0]
    assert json.loads(line)["path"] == (
        "/echo/x?q=1&access_token=[REDACTED]&API-KEY=[REDACTED]&client%5Fsecret=[REDACTED]"
        ";password=[REDACTED]#id_token=[REDACTED]")
    assert "-secret-" not in gw.stderr()


# ---------------------------------------------------------------- request ids (point 24)

def echo_with_id(gw, log, client_id=None, nth=1):
    """GET /echo/rid through <gw> (optionally with X-Request-Id <client_id>), the <nth>
    request logged; returns the ids the upstream got and the access line's id."""
    c = gw.raw()
    extra = "X-Request-Id: %s\r\n" % client_id if client_id is not None else ""
    c.send(simple_get("/echo/rid", extra=extra))
    r = c.read_response()
    assert r.status == 200
    seen = hdr_all(json.loads(r.body)["headers"], "x-request-id")
    return seen, access_lines(log, nth)[nth - 1]["request_id"]


def test_access_line_and_upstream_carry_the_same_request_id(upstream, gateway, tmp_path):
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log)})
    seen, logged = echo_with_id(gw, log)
    assert seen == [logged], (seen, logged)
    assert OUR_ID.match(logged), logged
    c = gw.raw()
    c.send(simple_get("/echo/2"))
    c.read_response()
    second = access_lines(log, 2)[1]["request_id"]
    assert OUR_ID.match(second) and second != logged


def test_request_ids_on_one_connection_count_up(upstream, gateway, tmp_path):
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log)})
    c = gw.raw()  # one connection: one worker, one counter
    for i in range(40):
        c.send(simple_get("/echo/%d" % i))
        assert c.read_response().status == 200
    ids = [x["request_id"] for x in access_lines(log, 40)]
    prefix, first = ids[0].split("-")
    assert ids == ["%s-%012x" % (prefix, int(first, 16) + i) for i in range(40)], ids


def test_an_untrusted_clients_request_id_is_replaced(upstream, gateway, tmp_path):
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log), "trusted-proxies": ["10.0.0.0/8"]})
    seen, logged = echo_with_id(gw, log, "client-chosen-id-1")
    assert seen == [logged], (seen, logged)
    assert OUR_ID.match(logged), logged


def test_other_spellings_of_request_id_never_reach_the_upstream(upstream, gateway, tmp_path):
    """X_Request_Id and x.request.id are X-Request-Id to a CGI/WSGI-style upstream: dropped,
    from a trusted proxy too, so the upstream sees exactly one id, the logged one."""
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log), "trusted-proxies": ["127.0.0.1"]})
    c = gw.raw()
    c.send(simple_get("/echo/rid", extra="X_Request_Id: forged-1\r\nx.request.id: forged-2\r\n"))
    r = c.read_response()
    assert r.status == 200
    headers = json.loads(r.body)["headers"]
    names = [h[0].lower().replace("_", "-").replace(".", "-") for h in headers]
    logged = access_lines(log, 1)[0]["request_id"]
    assert names.count("x-request-id") == 1, headers
    assert hdr_all(headers, "x-request-id") == [logged] and OUR_ID.match(logged), headers


def test_a_trusted_proxys_request_id_is_kept(upstream, gateway, tmp_path):
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log), "trusted-proxies": ["127.0.0.1"]})
    seen, logged = echo_with_id(gw, log, "proxy-id_1.2:3+4/5=")
    assert seen == ["proxy-id_1.2:3+4/5="] and logged == "proxy-id_1.2:3+4/5="


def test_a_trusted_proxys_malformed_request_id_is_replaced(upstream, gateway, tmp_path):
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log), "trusted-proxies": ["127.0.0.1"]})
    for n, bad in enumerate(("x" * 65, "has space", 'quote"d', "semi;colon", "")):
        seen, logged = echo_with_id(gw, log, bad, nth=n + 1)
        assert seen == [logged] and OUR_ID.match(logged), (bad, seen, logged)
    # two of them: neither is believed
    c = gw.raw()
    c.send(simple_get("/echo/rid", extra="X-Request-Id: a\r\nX-Request-Id: b\r\n"))
    seen = hdr_all(json.loads(c.read_response().body)["headers"], "x-request-id")
    assert len(seen) == 1 and OUR_ID.match(seen[0]), seen


# ---------------------------------------------------------------- error lines (point 24)

def test_a_502_error_line_names_method_path_upstream_cause_and_id(gateway, tmp_path):
    log = tmp_path / "access.log"
    port = free_port()
    gw = gateway({"access-log": str(log), "upstream": "http://127.0.0.1:%d" % port})
    c = gw.raw()
    c.send(b"POST /api/thing?refresh_token=rt-secret-0006&x=1 HTTP/1.1\r\nHost: gw.test\r\n"
           b"Content-Length: 0\r\n\r\n")
    assert c.read_response().status == 502
    rid = access_lines(log, 1)[0]["request_id"]
    line = stderr_line(gw, "request failed: 502")[0]
    assert " error request failed: 502 upstream refused the connection: Connection refused;" in line, line
    assert line.endswith(" method=POST path=/api/thing?refresh_token=[REDACTED]&x=1 "
                         "upstream=127.0.0.1:%d id=%s" % (port, rid)), line
    assert "rt-secret" not in gw.stderr() and "rt-secret" not in log.read_text()


def test_a_504_error_line_names_the_request(upstream, gateway):
    gw = gateway({"upstream-timeout": 1})
    c = gw.raw()
    c.send(simple_get("/hang?token=tk-secret-0007"))
    assert c.read_response().status == 504
    line = stderr_line(gw, "request failed: 504")[0]
    assert re.search(r" error request failed: 504 upstream timed out; method=GET "
                     r"path=/hang\?token=\[REDACTED\] upstream=127\.0\.0\.1:%d id=[0-9a-f]{12}-[0-9a-f]{12}$"
                     % upstream.port, line), line
    assert "tk-secret" not in gw.stderr()


# ---------------------------------------------------------------- Redis outages (point 24)

def test_redis_down_at_start_is_a_warning_naming_the_address_not_the_password(gateway):
    port = free_port()
    gw = gateway({"redis": "redis://:pw-secret-redis@127.0.0.1:%d/0" % port})
    lines = stderr_line(gw, "store not ready")
    for line in lines:
        assert " warn worker " in line and "(redis 127.0.0.1:%d)" % port in line, line
    assert "pw-secret-redis" not in gw.stderr()


def test_redis_lost_while_running_is_a_warning_naming_the_address(gateway, redis_server):
    gw = start(gateway, redis_server)
    redis_server.stop()
    lines = stderr_line(gw, "store not ready")
    for line in lines:
        assert " warn worker " in line and "(redis 127.0.0.1:%d)" % redis_server.port in line, line
    assert requests.get(gw.url + "/auth/ready", timeout=5).status_code == 503
