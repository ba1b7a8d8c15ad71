"""What the logs say (CONTRACT.md section 8 "No credential reaches a log", issue 9
point 2; docs/operations.md#logs): credential-named query parameters redacted in
every line.
"""

import json
import time

from conftest import simple_get
from test_tokens import MASTER, new_pair, refresh_get, start


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
