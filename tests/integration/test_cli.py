"""The command line: every command's --help, and where `init` puts the secrets
(CONTRACT.md section 2; issue 9 points 22 and 23)."""

import json
import os
import signal
import subprocess
import time
import uuid

import jwt
import pytest

from conftest import (AUTHGATE_BIN, RawConn, free_port, run_authgate, simple_get, wait_port)

COMMANDS = ["serve", "check", "keygen", "init", "csu", "reset-link", "unlock"]


# ---------------------------------------------------------------- --help

@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_with_exit_0(command, flag):
    r = run_authgate(command, flag)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    first = r.stdout.splitlines()[0] if r.stdout else ""
    assert first.startswith("usage: authgate") and command in first, r.stdout
    assert r.stderr == "", r.stderr


@pytest.mark.parametrize("command,args", [
    ("check", ["--config", "/nonexistent.json"]),
    ("serve", ["--config", "/nonexistent.json"]),
    ("csu", ["--config", "/nonexistent.json", "--username", "u"]),
    ("unlock", ["--user", "u"]),
])
def test_help_wins_over_other_arguments(command, args):
    """--help does nothing else: no config is read, no store is asked."""
    r = run_authgate(command, *args, "--help")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.startswith("usage: authgate"), r.stdout


def test_init_help_says_where_the_secrets_go():
    r = run_authgate("init", "--help")
    assert r.returncode == 0
    assert ".env" in r.stdout and "CRYPTOGRAPHY_KEY" in r.stdout, r.stdout


def test_unknown_command_with_help_is_still_unknown():
    r = run_authgate("frobnicate", "--help")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "frobnicate" in r.stderr


def test_keygen_with_an_argument_is_a_usage_error():
    assert run_authgate("keygen", "--bogus").returncode == 2


# ---------------------------------------------------------------- init: one place for the secrets

def read_env(path):
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def test_init_writes_the_secrets_only_to_env(tmp_path):
    r = run_authgate("init", "--dir", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = json.loads((tmp_path / "authgate.json").read_text())
    env = read_env(tmp_path / ".env")
    assert "cryptography-key" not in cfg and "master-token" not in cfg, cfg
    assert set(env) == {"CRYPTOGRAPHY_KEY", "MASTER_TOKEN"}, env
    assert len(env["CRYPTOGRAPHY_KEY"]) == 43 and len(env["MASTER_TOKEN"]) == 43, env
    assert env["CRYPTOGRAPHY_KEY"] != env["MASTER_TOKEN"]
    # the output says which file holds them, and how to load it
    assert "%s/.env" % tmp_path in r.stdout and "set -a" in r.stdout, r.stdout
    # without the environment the settings alone are refused, naming the key; with it, ok
    r = run_authgate("check", "--config", tmp_path / "authgate.json")
    assert r.returncode == 2 and "cryptography-key" in r.stderr, r.stdout + r.stderr
    r = run_authgate("check", "--config", tmp_path / "authgate.json", env_extra=env)
    assert r.returncode == 0, r.stdout + r.stderr


def test_init_creates_a_missing_directory(tmp_path):
    """`authgate init --dir /etc/authgate` on a fresh system (issue 11 review)."""
    d = tmp_path / "etc" / "authgate"
    r = run_authgate("init", "--dir", d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (d / "authgate.json").stat().st_mode & 0o777 == 0o600
    assert (d / ".env").stat().st_mode & 0o777 == 0o600
    # a path through a file is refused, naming it
    (tmp_path / "f").write_text("x")
    r = run_authgate("init", "--dir", tmp_path / "f" / "sub")
    assert r.returncode == 1 and str(tmp_path / "f") in r.stderr, r.stdout + r.stderr


def test_init_env_is_shell_sourceable(tmp_path):
    assert run_authgate("init", "--dir", tmp_path).returncode == 0
    out = subprocess.run(["bash", "-c", 'set -a; . "$1"; set +a; echo "$CRYPTOGRAPHY_KEY $MASTER_TOKEN"',
                          "bash", str(tmp_path / ".env")], capture_output=True, text=True, check=True)
    env = read_env(tmp_path / ".env")
    assert out.stdout.split() == [env["CRYPTOGRAPHY_KEY"], env["MASTER_TOKEN"]]


def test_editing_env_changes_the_secrets_the_gateway_uses(tmp_path, upstream, redis_server):
    """The field report: the file's copy won, so editing .env did nothing."""
    assert run_authgate("init", "--dir", tmp_path).returncode == 0
    old = read_env(tmp_path / ".env")
    new = {"CRYPTOGRAPHY_KEY": run_authgate("keygen").stdout.strip(),
           "MASTER_TOKEN": run_authgate("keygen").stdout.strip()}
    (tmp_path / ".env").write_text("".join("%s=%s\n" % kv for kv in new.items()))
    # point the settings at this test's ports; the secrets stay where init put them
    cfg_path = tmp_path / "authgate.json"
    cfg = json.loads(cfg_path.read_text())
    port = free_port()
    cfg.update({"listen": "127.0.0.1:%d" % port, "upstream": upstream.url,
                "redis": redis_server.url, "master-token-paths": ["/admin"],
                "access-token-paths": ["/api"], "access-log": "off", "workers": 1})
    cfg_path.write_text(json.dumps(cfg))
    env = dict(os.environ, **read_env(tmp_path / ".env"))
    stderr = tmp_path / "serve.stderr"
    with open(stderr, "wb") as err:
        p = subprocess.Popen([str(AUTHGATE_BIN), "serve", "--config", str(cfg_path)], env=env,
                             stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        assert wait_port(port, 10, p), stderr.read_text()
        with RawConn(port) as c:
            c.send(simple_get("/admin/x", extra="MASTER-TOKEN: %s\r\n" % old["MASTER_TOKEN"]))
            assert c.read_response().status == 401
            c.send(simple_get("/admin/x", extra="MASTER-TOKEN: %s\r\n" % new["MASTER_TOKEN"]))
            assert c.read_response().status == 200
            now = int(time.time())
            claims = {"type": "access", "iss": "authgate", "sub": "s", "client_id": "c",
                      "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
            c.send(simple_get("/api/x", extra="Authorization: Bearer %s\r\n"
                              % jwt.encode(claims, old["CRYPTOGRAPHY_KEY"], algorithm="HS256")))
            assert c.read_response().status == 401
            c.send(simple_get("/api/x", extra="Authorization: Bearer %s\r\n"
                              % jwt.encode(claims, new["CRYPTOGRAPHY_KEY"], algorithm="HS256")))
            assert c.read_response().status == 200
        assert [r["target"] for r in upstream.requests()] == ["/admin/x", "/api/x"]
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0, stderr.read_text()
