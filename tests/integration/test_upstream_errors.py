"""Upstream failures and bodiless responses (CONTRACT.md section 9, SECURITY-BASELINE 9)."""

import hashlib
import time

import pytest

from conftest import assert_json_error, free_port, pattern_sha256, simple_get


def get(gw, path, method="GET", timeout=10):
    c = gw.raw(timeout=timeout)
    c.send(("%s %s HTTP/1.1\r\nHost: gw.test\r\n\r\n" % (method, path)).encode())
    return c, c.read_response(method=method)


def test_upstream_down_502(gateway):
    gw = gateway({"upstream": "http://127.0.0.1:%d" % free_port()})
    _, r = get(gw, "/echo")
    assert_json_error(r, 502)


def test_upstream_down_then_client_connection_still_usable(gateway):
    gw = gateway({"upstream": "http://127.0.0.1:%d" % free_port()})
    c, r = get(gw, "/echo/1")
    assert_json_error(r, 502)
    if not c.closed(0.5):
        c.send(simple_get("/echo/2"))
        assert_json_error(c.read_response(), 502)


@pytest.mark.parametrize("query", ["", "?rst=1"])
def test_upstream_closes_without_answer_502(upstream, gateway, query):
    gw = gateway()
    _, r = get(gw, "/reset" + query)
    assert_json_error(r, 502)
    _, r = get(gw, "/echo/after-reset")  # the broken connection was not pooled
    assert r.status == 200


def test_upstream_hangs_504(upstream, gateway):
    gw = gateway({"upstream-timeout": 1})
    t0 = time.monotonic()
    _, r = get(gw, "/hang")
    elapsed = time.monotonic() - t0
    assert_json_error(r, 504)
    assert 0.8 <= elapsed < 5, elapsed
    _, r = get(gw, "/echo/after-hang")
    assert r.status == 200


def test_upstream_slow_beyond_timeout_504(upstream, gateway):
    gw = gateway({"upstream-timeout": 1})
    _, r = get(gw, "/slow?delay=3")
    assert_json_error(r, 504)


def test_upstream_slow_within_timeout_200(upstream, gateway):
    gw = gateway({"upstream-timeout": 3})
    _, r = get(gw, "/slow?delay=1")
    assert r.status == 200


@pytest.mark.parametrize("kind", ["clte", "dupcl", "badcl", "garbage"])
def test_ill_framed_upstream_response_502(upstream, gateway, kind):
    gw = gateway()
    _, r = get(gw, "/badresp/" + kind)
    assert_json_error(r, 502)
    _, r = get(gw, "/echo/after-bad")
    assert r.status == 200


def test_head_has_no_body(upstream, gateway):
    gw = gateway()
    c, r = get(gw, "/bytes?n=5000", method="HEAD")
    assert r.status == 200 and r.body == b""
    assert r.header("content-length") in (None, "5000")
    # A body after the HEAD answer would be read as the next response's head.
    c.send(simple_get("/echo/after-head"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/after-head"


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_status_has_no_body(upstream, gateway, status):
    gw = gateway()
    c, r = get(gw, "/status/%d" % status)
    assert r.status == status
    assert r.header("transfer-encoding") is None
    assert r.header("content-length") in (None, "0")
    c.send(simple_get("/echo/after-%d" % status))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/after-%d" % status, r


@pytest.mark.parametrize("status", [200, 201, 400, 404, 500, 503])
def test_upstream_status_relayed(upstream, gateway, status):
    gw = gateway()
    _, r = get(gw, "/status/%d" % status)
    assert r.status == status
    assert r.json() == {"status": status}


def test_close_delimited_response_delivered_whole(upstream, gateway):
    gw = gateway()
    n = 3 * 1024 * 1024 + 17
    _, r = get(gw, "/bytes?n=%d&close=1" % n, timeout=30)
    assert r.status == 200
    assert len(r.body) == n
    assert hashlib.sha256(r.body).hexdigest() == pattern_sha256(n)


def test_head_with_chunked_upstream_headers_has_no_body(upstream, gateway):
    gw = gateway()
    c, r = get(gw, "/bytes?n=5000&chunked=1", method="HEAD")
    assert r.status == 200 and r.body == b""
    c.send(simple_get("/echo/after-head"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/after-head"
