"""access-log: one JSON line per request (CONTRACT.md section 3)."""

import json
import time

from conftest import simple_get


def test_access_log_file_one_json_line_per_request(upstream, gateway, tmp_path):
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log)})
    c = gw.raw()
    for p in ("/echo/1", "/echo/2", "/auth/whatever"):
        c.send(simple_get(p))
        c.read_response()
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= 3:
            break
        time.sleep(0.1)
    assert len(lines) == 3, lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line


def test_access_log_off_writes_nothing_to_stderr(upstream, gateway):
    gw = gateway({"access-log": "off"})
    c = gw.raw()
    c.send(simple_get("/echo/quiet-path-marker"))
    c.read_response()
    time.sleep(0.3)
    assert "quiet-path-marker" not in gw.stderr()


def test_access_log_does_not_echo_raw_control_bytes(upstream, gateway, tmp_path):
    """STYLE R5: client input is escaped before it reaches a log."""
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log)})
    c = gw.raw()
    c.send(simple_get("/echo/x?q=%22%7D", extra="User-Agent: evil\xff\"}{\\\r\nReferer: a\tb\r\n"))
    assert c.read_response().status == 200
    c.send(simple_get("/a%2fb", extra="User-Agent: \"}\r\n"))  # a refused one is logged too
    c.read_response()
    time.sleep(0.5)
    text = log.read_bytes().decode("utf-8")  # strict: a raw 0xff byte is not valid JSON text
    assert text.strip(), "nothing logged"
    for line in text.splitlines():
        assert isinstance(json.loads(line), dict), line
