"""Docs that describe what the code does must keep saying it (issue 9 point 25): the
integration suite's README lists every test file, and docs/operations.md lists exactly
the access-log fields that gateway/core/req.c writes."""

import json
import re
import time
from pathlib import Path

from conftest import REPO, simple_get

HERE = Path(__file__).resolve().parent


def test_integration_readme_lists_every_test_file():
    table = (HERE / "README.md").read_text()
    listed = set(re.findall(r"^\| (test_\w+\.py) \|", table, re.M))
    present = {p.name for p in HERE.glob("test_*.py")}
    assert listed == present, "missing: %s; stale: %s" % (sorted(present - listed),
                                                          sorted(listed - present))


def documented_access_log_fields():
    text = (Path(REPO) / "docs" / "operations.md").read_text()
    section = text[text.index("**Access log**"):]
    section = section[:section.index("\n\n**", 1)]
    fields = set()
    for cell in re.findall(r"^\| (`[^|]+`) \|", section, re.M):
        fields.update(re.findall(r"`([a-z_]+)`", cell))
    return fields


def test_access_log_fields_are_the_documented_ones(upstream, gateway, tmp_path):
    log = tmp_path / "access.log"
    gw = gateway({"access-log": str(log), "access-token-paths": ["/api"]})
    c = gw.raw()
    c.send(simple_get("/echo/forwarded"))   # has upstream_us
    assert c.read_response().status == 200
    c.send(simple_get("/api/refused"))      # has auth
    assert c.read_response().status == 401
    deadline = time.monotonic() + 5
    lines = []
    while len(lines) < 2 and time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        time.sleep(0.05)
    assert len(lines) == 2, lines
    written = set()
    for line in lines:
        written.update(json.loads(line))
    assert json.loads(lines[1])["auth"] == "no access token", lines[1]
    assert written == documented_access_log_fields()


def test_readme_status_names_the_administration():
    """Issue 13: the README's status table lists the admin API, the audit API, the
    console and the operator commands, each with the page that documents it."""
    text = (Path(REPO) / "README.md").read_text()
    status = text[text.index("## Status"):text.index("\n## ", text.index("## Status") + 1)]
    rows = [r for r in status.splitlines() if r.startswith("| ") and "docs/admin.md" in r]
    assert rows, "no status row points to docs/admin.md"
    row = " ".join(rows)
    for name in ("/auth/admin/users", "/auth/admin/audit", "POST /auth/audit",
                 "/auth/admin/", "authgate user", "authgate sessions"):
        assert name in row, name


def test_man_page_names_every_endpoint():
    """docs/authgate.1's ENDPOINTS section names every route of gateway/ep/routes.c (by
    its path up to the first parameter), so the page keeps up with the route table."""
    routes = (Path(REPO) / "gateway" / "ep" / "routes.c").read_text()
    paths = set(re.findall(r'^\s*\{"[A-Z]+",\s*"(/[^"]*)"', routes, re.M))
    assert len(paths) > 20, paths
    page = (Path(REPO) / "docs" / "authgate.1").read_text()
    section = page[page.index(".SH ENDPOINTS"):page.index(".SH ENVIRONMENT")]
    words = set(re.findall(r"/[\w./-]*", section.replace("\\-", "-").replace("\\fI", " ")))
    missing = sorted(p for p in paths if p.split("{}")[0].rstrip("/") not in
                     {w.rstrip("/") for w in words})
    assert not missing, missing
