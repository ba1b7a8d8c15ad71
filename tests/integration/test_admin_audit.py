"""The audit log API through the real binary on a real redis-server (CONTRACT.md section
13; docs/admin.md "Audit API"): every entry records the client's User-Agent;
GET /auth/admin/audit reads the stream newest first with exact user and event filters, a
since bound, a page size and a cursor, and a filtered scan stops at its bound and says
so; POST /auth/audit records an application's own events (master token or scope
audit:write), always marked "source": "app", size-bounded and rate-limited.

The gateways here run one worker, so an entry appended while answering one request is
in the stream before the next request's read (one Redis connection, commands in order).
"""

import json
import re
import socket
import time
from datetime import datetime, timezone

import requests

from test_tokens import MASTER, new_pair
from test_users import (assert_422, bearer, login, login_ok, make_user, redis_cmd, refresh_post,
                        register, uname, user_key, ustart)

NS = "authgate"
STREAM = "{%s}:audit" % NS
ID_RE = re.compile(r"^\d+-\d+$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
M = {"MASTER-TOKEN": MASTER}
UA = "AuditProbe/2.1 (integration; +https://example.test)"
D403 = {"detail": "Not enough permissions"}
D401 = {"detail": "Unauthorized Access Token"}
AUDITOR = {"role-scopes": {"auditor": ["audit:write"]}}


def start(gateway, redis_server, **over):
    cfg = {"workers": 1}
    cfg.update(over)
    return ustart(gateway, redis_server, **cfg)


def audit_get(gw, headers=M, **params):
    return requests.get(gw.url + "/auth/admin/audit", params=params, headers=headers, timeout=15)


def events(gw, **params):
    r = audit_get(gw, **params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"events", "truncated", "next"}, body
    return body


def audit_post(gw, body=None, headers=M, raw=None):
    h = dict(headers or {})
    if raw is not None:
        h.setdefault("Content-Type", "application/json")
        return requests.post(gw.url + "/auth/audit", data=raw, headers=h, timeout=15)
    return requests.post(gw.url + "/auth/audit", json=body, headers=h, timeout=15)


def flagged_token(gw, redis_server, **fields):
    """A new user with the user record's <fields> set (is_staff, roles...) and its access token."""
    u = make_user(gw)
    if fields:
        args = [x for kv in fields.items() for x in kv]
        redis_cmd(redis_server.port, "HSET", user_key(u["id"]), *args)
    return u, login_ok(gw, u["username"])["access_token"]


def stream_fields(redis_server, entry_id):
    got = redis_cmd(redis_server.port, "XRANGE", STREAM, entry_id, entry_id)
    assert len(got) == 1, got
    f = got[0][1]
    return f, dict(zip(f[0::2], f[1::2]))


def logged(gw, text, within=3.0):
    """Whether <text> shows in the gateway's log within <within> s (audit lines are batched
    per worker and written by the logger thread)."""
    deadline = time.monotonic() + within
    while text not in gw.stderr():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def redis_pipeline(port, commands):
    """Sends every command of <commands> on one connection, then reads every reply."""
    out = bytearray()
    for args in commands:
        enc = [str(a).encode() for a in args]
        out += b"*%d\r\n" % len(enc) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in enc)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(out)
        with s.makefile("rb") as f:
            for _ in commands:
                line = f.readline()
                assert line[:1] in (b"$", b"+", b":"), line
                if line[:1] == b"$":
                    f.read(int(line[1:]) + 2)


# ---------------------------------------------------------------- user_agent in every entry

def test_entries_record_the_user_agent_in_the_stream_the_log_and_the_api(gateway, redis_server):
    gw = start(gateway, redis_server)
    u = make_user(gw)
    pair = login_ok(gw, u["username"], headers={"User-Agent": UA})
    assert refresh_post_ua(gw, pair["refresh_token"], "Refresher/1.0").status_code == 200
    t0 = datetime.now(timezone.utc).timestamp()

    body = events(gw, event="login_ok", user=u["id"])
    assert len(body["events"]) == 1 and body["truncated"] is False and body["next"] is None
    e = body["events"][0]
    assert list(e)[:7] == ["id", "time", "event", "source", "ip", "user_agent", "sub"], e
    assert e["event"] == "login_ok" and e["user_agent"] == UA and e["ip"] == "127.0.0.1"
    assert e["sub"] == u["id"] and e["user_id"] == u["id"] and e["source"] == "gateway"
    assert ID_RE.match(e["id"]) and ISO_RE.match(e["time"]), e
    when = datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(when.timestamp() - t0) < 10
    assert int(e["id"].split("-")[0]) // 1000 == int(when.timestamp())  # the id's time
    # The stream entry itself: the old fields, and user_agent next to ip.
    names, fields = stream_fields(redis_server, e["id"])
    assert names[:6] == ["event", "login_ok", "ip", "127.0.0.1", "user_agent", UA]
    assert fields["user_id"] == u["id"] and fields["sid"]
    # The refresh entry written by the rotation script carries it too.
    r = events(gw, event="refresh", user=u["id"])["events"]
    assert len(r) == 1 and r[0]["user_agent"] == "Refresher/1.0" and r[0]["sub"] == u["id"]
    names, _ = stream_fields(redis_server, r[0]["id"])
    assert names[:6] == ["event", "refresh", "ip", "127.0.0.1", "user_agent", "Refresher/1.0"]
    # ... and so does the log line, with the same names.
    assert logged(gw, '"event":"login_ok","ip":"127.0.0.1","user_agent":"%s"' % UA)
    # No User-Agent at all: recorded as "".
    c = gw.raw()
    b = json.dumps({"username_or_email": u["username"], "password": "correct horse battery"})
    c.send("POST /auth/login HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n%s" % (len(b), b))
    assert c.read_response().status == 200
    e = events(gw, event="login_ok", user=u["id"], limit=1)["events"][0]
    assert e["user_agent"] == ""


def refresh_post_ua(gw, refresh, ua):
    return requests.post(gw.url + "/auth/refresh",
                         headers={"Authorization": "Bearer " + refresh, "User-Agent": ua},
                         timeout=10)


# ---------------------------------------------------------------- filters, order, paging

def test_filters_are_exact_and_events_come_newest_first(gateway, redis_server):
    gw = start(gateway, redis_server)
    a, b = make_user(gw), make_user(gw)
    for _ in range(3):
        login_ok(gw, a["username"])
    login_ok(gw, b["username"])
    assert login(gw, a["username"], "wrong password here").status_code == 401
    assert audit_post(gw, {"event": "login", "sub": a["id"]}).status_code == 202

    every = events(gw, limit=500)["events"]
    ids = [tuple(map(int, e["id"].split("-"))) for e in every]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert [e["event"] for e in every] == ["login", "login_failed", "login_ok", "login_ok",
                                          "login_ok", "login_ok", "register", "register"]

    ok = events(gw, event="login_ok")["events"]
    assert [e["event"] for e in ok] == ["login_ok"] * 4
    assert [e["sub"] for e in ok] == [b["id"], a["id"], a["id"], a["id"]]
    # exact: "login" is the app's event only, never a prefix of login_ok or login_failed
    assert [e["event"] for e in events(gw, event="login")["events"]] == ["login"]
    # user: the events whose sub (or user_id) is the user
    mine = events(gw, user=a["id"])["events"]
    assert [e["event"] for e in mine] == ["login", "login_ok", "login_ok", "login_ok", "register"]
    assert all(e["sub"] == a["id"] for e in mine)
    assert len(events(gw, user=a["id"], event="login_ok")["events"]) == 3
    assert events(gw, user=a["id"][:-1])["events"] == []
    assert events(gw, user="127.0.0.1")["events"] == []  # another field is not the user

    # limit, and the cursor: pages that go on where the last stopped, then end
    p1 = events(gw, limit=3)
    assert [e["id"] for e in p1["events"]] == [e["id"] for e in every[:3]]
    assert p1["next"] == every[2]["id"] and p1["truncated"] is False
    p2 = events(gw, limit=3, before=p1["next"])
    assert [e["id"] for e in p2["events"]] == [e["id"] for e in every[3:6]]
    p3 = events(gw, limit=3, before=p2["next"])
    assert [e["id"] for e in p3["events"]] == [e["id"] for e in every[6:]]
    assert p3["next"] is None
    assert len(events(gw)["events"]) == 8  # default 50
    f1 = events(gw, user=a["id"], limit=2)
    assert [e["event"] for e in f1["events"]] == ["login", "login_ok"]
    f2 = events(gw, user=a["id"], limit=2, before=f1["next"])
    assert [e["event"] for e in f2["events"]] == ["login_ok", "login_ok"]


def test_an_event_answered_first_is_older_whichever_worker_writes_the_next(gateway, redis_server):
    """A failed login's entry is written without waiting for Redis (rate-limits off: no
    counter follows it); the app's event, sent the moment the 401 arrives on another
    connection, may be handled by the other worker. The log's order is still the order of
    the answers: the gateway writes queued store commands before it answers."""
    gw = start(gateway, redis_server, workers=2)
    logins = []
    for _ in range(200):
        name = uname("o")
        assert login(gw, name, "wrong password here").status_code == 401
        assert audit_post(gw, {"event": "app_after", "sub": name}).status_code == 202
        logins.append(name)
    seen, order = set(), []
    for _id, fields in redis_cmd(redis_server.port, "XRANGE", STREAM, "-", "+"):
        f = dict(zip(fields[::2], fields[1::2]))
        if f["event"] == "login_failed":
            seen.add(f["login"])
        elif f["event"] == "app_after":
            order.append((f["sub"], f["sub"] in seen))
    assert order == [(name, True) for name in logins]


def test_since_bounds_the_range_by_time(gateway, redis_server):
    gw = start(gateway, redis_server)
    # Entries in the stream's own format, at fixed times: 2021-01-01 and 2022-01-01 UTC.
    old = [("1609459200000-0", "x_old"), ("1640995200000-0", "x_mid"),
           ("1640995200000-1", "x_mid")]
    for i, ev in old:
        redis_cmd(redis_server.port, "XADD", STREAM, i, "event", ev, "ip", "10.0.0.1",
                  "user_agent", "", "sub", "s1")
    u = make_user(gw)

    assert [e["event"] for e in events(gw, since="1640995200")["events"]] == \
        ["register", "x_mid", "x_mid"]
    assert [e["id"] for e in events(gw, since="2022-01-01T00:00:00Z", event="x_mid")["events"]] \
        == ["1640995200000-1", "1640995200000-0"]
    assert events(gw, since="2022-01-01T00:00:00.001Z", event="x_mid")["events"] == []
    assert len(events(gw, since="2020-12-31T23:59:59Z")["events"]) == 4
    assert [e["event"] for e in events(gw, since=str(int(time.time()) - 60))["events"]] == \
        ["register"]
    assert events(gw, since=str(int(time.time()) + 3600))["events"] == []
    e = events(gw, event="x_old")["events"][0]
    assert e["time"] == "2021-01-01T00:00:00Z" and e["sub"] == "s1" and e["source"] == "gateway"
    # Bytes someone else wrote that are not UTF-8 are shown replaced, never a failed answer.
    redis_cmd(redis_server.port, "XADD", STREAM, "*", "event", "x_bin", "ip", "",
              "user_agent", b"bad\xffua", b"k\xfe", b"\x01")
    e = events(gw, event="x_bin")["events"][0]
    assert e["user_agent"] == "bad\ufffdua" and e["k\ufffd"] == "\x01", e  # UTF-8: kept, escaped
    assert events(gw, user=u["id"])["events"][0]["event"] == "register"


def test_query_errors_are_422_naming_the_parameter(gateway, redis_server):
    gw = start(gateway, redis_server)
    cases = [({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "ten"}, "limit"),
             ({"limit": "-3"}, "limit"), ({"since": "yesterday"}, "since"),
             ({"since": "2024-02-30T00:00:00Z"}, "since"), ({"since": "2024-01-01"}, "since"),
             ({"before": "abc"}, "before"), ({"before": "0-0"}, "before"),
             ({"event": "has space"}, "event"), ({"event": "x" * 65}, "event"),
             ({"user": "u" * 513}, "user"), ({"user": "%zz"}, "user")]
    for params, name in cases:
        if params.get("user") == "%zz":  # a bad %-escape, sent as is (requests would mend it)
            c = gw.raw()
            c.send("GET /auth/admin/audit?user=%%zz HTTP/1.1\r\nHost: gw.test\r\n"
                   "MASTER-TOKEN: %s\r\n\r\n" % MASTER)
            r = c.read_response()
            status, d = r.status, r.json()["detail"]
        else:
            r = audit_get(gw, **params)
            status, d = r.status_code, r.json()["detail"]
        assert status == 422, (params, d)
        assert len(d) == 1 and d[0]["loc"] == ["query", name], (params, d)
        assert d[0]["msg"] and d[0]["type"].startswith("value_error"), d
    assert audit_get(gw, limit="500").status_code == 200
    assert audit_get(gw, limit="1").status_code == 200


# ---------------------------------------------------------------- the scan bound

def test_a_filtered_scan_stops_at_its_bound_and_says_where_to_go_on(gateway, redis_server):
    gw = start(gateway, redis_server)
    u = make_user(gw)  # the oldest entry: register
    # 10,050 entries written as store/audit.c writes them, newer than the register.
    redis_pipeline(redis_server.port,
                   [("XADD", STREAM, "*", "event", "filler", "ip", "10.0.0.%d" % (i % 250),
                     "user_agent", "bulk", "sub", "bulk-%d" % i) for i in range(10050)])

    t0 = time.monotonic()
    body = events(gw, event="nothing_matches")
    took = time.monotonic() - t0
    assert body["events"] == [] and body["truncated"] is True, body
    assert ID_RE.match(body["next"])
    # The cursor is the 10,000th newest entry: going on from it reads the 50 fillers
    # left and the register, and the range ends there.
    fillers = redis_cmd(redis_server.port, "XREVRANGE", STREAM, "+", "-", "COUNT", "10000")
    assert body["next"] == fillers[-1][0]
    more = events(gw, event="register", before=body["next"])
    assert [e["sub"] for e in more["events"]] == [u["id"]]
    assert more["truncated"] is False and more["next"] is None
    # The same filter from the top stops at the bound without reaching the register.
    top = events(gw, event="register")
    assert top["events"] == [] and top["truncated"] is True
    # A page that fills before the bound is no truncation.
    hit = events(gw, event="filler", limit=5)
    assert len(hit["events"]) == 5 and hit["truncated"] is False and hit["next"]
    # Unfiltered reads are one XREVRANGE of the page: never truncated.
    page = events(gw, limit=500)
    assert len(page["events"]) == 500 and page["truncated"] is False
    assert took < 10, took


# ---------------------------------------------------------------- POST /audit: who may

def test_post_audit_takes_the_master_token_or_the_audit_write_scope(gateway, redis_server):
    gw = start(gateway, redis_server, **AUDITOR)
    auditor, atok = flagged_token(gw, redis_server, roles="auditor")
    plain, ptok = flagged_token(gw, redis_server)
    staff, stok = flagged_token(gw, redis_server, is_staff="1")
    client = new_pair(gw, "some-client")["access_token"]

    r = audit_post(gw, {"event": "order.paid", "sub": "cust-1", "detail": {"amount": 12}},
                   headers=dict(M, **{"User-Agent": UA}))
    assert r.status_code == 202, r.text
    assert set(r.json()) == {"id"} and ID_RE.match(r.json()["id"])
    first = r.json()["id"]
    r = audit_post(gw, {"event": "order.shipped"}, headers=bearer(atok))
    assert r.status_code == 202, r.text
    second = r.json()["id"]

    for tok in (ptok, stok, client):
        r = audit_post(gw, {"event": "x"}, headers=bearer(tok))
        assert r.status_code == 403 and r.json() == D403, r.text
    r = audit_post(gw, {"event": "x"}, headers={})
    assert r.status_code == 401 and r.json() == D401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authgate"'
    r = audit_post(gw, {"event": "x"}, headers={"MASTER-TOKEN": "wrong"})
    assert r.status_code == 401
    r = audit_post(gw, {"event": "x"}, headers=bearer(atok + "x"))
    assert r.status_code == 401

    # What was stored: source app, the caller, the client's ip and user agent.
    names, f = stream_fields(redis_server, first)
    assert names == ["event", "order.paid", "ip", "127.0.0.1", "user_agent", UA, "source", "app",
                     "actor", "master", "sub", "cust-1", "detail", '{"amount":12}']
    _, f = stream_fields(redis_server, second)
    assert f["source"] == "app" and f["actor"] == auditor["id"] and "sub" not in f
    got = events(gw, event="order.paid")["events"][0]
    assert got == {"id": first, "time": got["time"], "event": "order.paid", "source": "app",
                   "ip": "127.0.0.1", "user_agent": UA, "sub": "cust-1", "actor": "master",
                   "detail": {"amount": 12}}
    # Nothing was recorded for the refused calls.
    assert events(gw, event="x")["events"] == []
    assert logged(gw, '"event":"order.paid","ip":"127.0.0.1","user_agent":"%s","source":"app"'
                  % UA)


def test_post_audit_with_the_cookie_passes_the_csrf_check(gateway, redis_server):
    """A token with audit:write in the access_token cookie: a foreign Origin is 403 and
    records nothing; the gateway's own origin is 202."""
    gw = start(gateway, redis_server, **AUDITOR)
    _, atok = flagged_token(gw, redis_server, roles="auditor")
    cookies = {"access_token": atok}
    r = requests.post(gw.url + "/auth/audit", json={"event": "csrf.probe"}, cookies=cookies,
                      headers={"Origin": "https://evil.example"}, timeout=15)
    assert r.status_code == 403, r.text
    assert r.json() == {"detail": "CSRF check failed: Origin does not match"}
    assert events(gw, event="csrf.probe")["events"] == []
    host = gw.url.split("://", 1)[1]
    r = requests.post(gw.url + "/auth/audit", json={"event": "csrf.probe"}, cookies=cookies,
                      headers={"Origin": "http://" + host}, timeout=15)
    assert r.status_code == 202, r.text
    assert [e["id"] for e in events(gw, event="csrf.probe")["events"]] == [r.json()["id"]]


def test_an_app_event_named_like_a_gateway_event_stays_an_app_event(gateway, redis_server):
    gw = start(gateway, redis_server)
    u = make_user(gw)
    login_ok(gw, u["username"])
    assert audit_post(gw, {"event": "login_ok", "sub": u["id"],
                           "detail": {"source": "gateway", "ip": "1.2.3.4"}}).status_code == 202
    got = events(gw, event="login_ok", user=u["id"])["events"]
    assert [(e["source"], e["ip"]) for e in got] == [("app", "127.0.0.1"), ("gateway", "127.0.0.1")]
    assert got[0]["actor"] == "master" and got[0]["detail"] == {"source": "gateway",
                                                               "ip": "1.2.3.4"}
    assert "actor" not in got[1] and "detail" not in got[1]
    # The body cannot name the fields the gateway sets.
    for field in ("source", "actor", "ip", "user_agent", "time", "id"):
        r = audit_post(gw, {"event": "e", field: "gateway"})
        assert_422(r, ["body", field], "extra fields not permitted", "value_error.extra")


# ---------------------------------------------------------------- POST /audit: what it takes

def test_post_audit_validation_names_the_field(gateway, redis_server):
    gw = start(gateway, redis_server)
    ev = "event must be 1 to 64 characters of letters, digits, '_', '.', ':' or '-'"
    sub = "must be 1 to 512 bytes of text without control characters"
    assert_422(audit_post(gw, {}), ["body", "event"], "field required", "value_error.missing")
    assert_422(audit_post(gw, {"event": 5}), ["body", "event"], "str type expected",
               "type_error.str")
    for bad in ("", "has space", "x" * 65, "caf\u00e9", "a/b"):
        assert_422(audit_post(gw, {"event": bad}), ["body", "event"], ev, "value_error.event")
    assert audit_post(gw, {"event": "A-z_0.9:" + "x" * 56}).status_code == 202
    assert_422(audit_post(gw, {"event": "e", "sub": "s" * 513}), ["body", "sub"], sub,
               "value_error.sub")
    assert_422(audit_post(gw, {"event": "e", "sub": "a\nb"}), ["body", "sub"], sub,
               "value_error.sub")
    assert_422(audit_post(gw, {"event": "e", "sub": 7}), ["body", "sub"], "str type expected",
               "type_error.str")
    assert audit_post(gw, {"event": "e", "sub": "s" * 512}).status_code == 202
    assert_422(audit_post(gw, {"event": "e", "detail": [1]}), ["body", "detail"],
               "value is not a valid dict", "type_error.dict")
    assert_422(audit_post(gw, raw='{"event":"e","event":"f"}'), ["body"], "duplicate field",
               "value_error.duplicate")
    assert_422(audit_post(gw, raw='{"event":"e","detail":{"k":1,"k":2}}'), ["body"],
               "duplicate field", "value_error.duplicate")
    assert_422(audit_post(gw, raw='["e"]'), ["body"], "body must be a JSON object",
               "value_error.jsondecode")
    r = audit_post(gw, raw="event=e", headers=dict(M, **{"Content-Type": "text/plain"}))
    assert r.status_code == 415


def test_post_audit_detail_is_bounded_at_4_kib_compact(gateway, redis_server):
    gw = start(gateway, redis_server)
    # {"k":"..."} is 8 bytes around the string once compact; spaces sent do not count.
    ok = '{"event":"big", "detail": { "k" :   "%s" }}' % ("x" * 4088)
    r = audit_post(gw, raw=ok)
    assert r.status_code == 202, r.text
    _, f = stream_fields(redis_server, r.json()["id"])
    assert len(f["detail"]) == 4096
    assert events(gw, event="big")["events"][0]["detail"] == {"k": "x" * 4088}
    assert_422(audit_post(gw, {"event": "big", "detail": {"k": "x" * 4089}}), ["body", "detail"],
               "detail must serialize to at most 4096 bytes of JSON", "value_error.detail_size")
    # A body over the endpoints' 16 KiB is refused before it is read.
    r = audit_post(gw, raw='{"event":"e","detail":{"k":"%s"}}' % ("x" * 17000))
    assert r.status_code == 413
    assert len(events(gw, event="big")["events"]) == 1


def test_post_audit_is_rate_limited_per_caller(gateway, redis_server):
    gw = start(gateway, redis_server, **dict(AUDITOR, **{"rate-limits": {
        "audit": {"limit": 3, "window": 60}, "login": {"limit": 100, "window": 60},
        "login-account": {"limit": 100, "window": 60}}}))
    _, atok = flagged_token(gw, redis_server, roles="auditor")
    for i in range(3):
        assert audit_post(gw, {"event": "tick"}).status_code == 202
    r = audit_post(gw, {"event": "tick"})
    assert r.status_code == 429 and r.json() == {"detail": "Too many requests"}
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # another caller has its own bucket
    assert audit_post(gw, {"event": "tock"}, headers=bearer(atok)).status_code == 202
    assert len(events(gw, event="tick")["events"]) == 3


def test_post_audit_with_the_stream_off_writes_the_log_line(gateway, redis_server):
    gw = start(gateway, redis_server, **{"audit-stream-max": 0})
    r = audit_post(gw, {"event": "only.logged", "sub": "s"})
    assert r.status_code == 202 and r.json() == {"id": None}
    assert redis_cmd(redis_server.port, "EXISTS", STREAM) == 0
    assert logged(gw, '"event":"only.logged","ip":"127.0.0.1","user_agent":"python-requests/')
    assert '"source":"app","actor":"master","sub":"s"}' in gw.stderr()


# ---------------------------------------------------------------- who may read

def test_staff_and_superusers_read_the_log_plain_users_do_not(gateway, redis_server):
    gw = start(gateway, redis_server)
    _, stok = flagged_token(gw, redis_server, is_staff="1")
    _, sutok = flagged_token(gw, redis_server, is_superuser="1")
    _, ptok = flagged_token(gw, redis_server, roles="editor")
    client = new_pair(gw, "reader")["access_token"]

    for tok in (stok, sutok):
        r = audit_get(gw, headers=bearer(tok))
        # three users registered and signed in, one client token issued
        assert r.status_code == 200 and len(r.json()["events"]) == 7, r.text
    for tok in (ptok, client):
        r = audit_get(gw, headers=bearer(tok))
        assert r.status_code == 403 and r.json() == D403
    r = audit_get(gw, headers={})
    assert r.status_code == 401 and r.json() == D401
    # staff read only: POST /audit needs its own scope
    assert audit_post(gw, {"event": "x"}, headers=bearer(stok)).status_code == 403
    r = requests.delete(gw.url + "/auth/admin/audit", headers=M, timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = requests.get(gw.url + "/auth/audit", headers=M, timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_store_down_is_503_for_both(gateway, redis_server):
    gw = start(gateway, redis_server)
    redis_server.stop()
    r = audit_get(gw)
    assert r.status_code == 503 and r.json() == {"detail": "Service Unavailable"}
    r = audit_post(gw, {"event": "e"})
    assert r.status_code == 503 and r.json() == {"detail": "Service Unavailable"}
    redis_server.start()
