"""Gateway-made errors and the command line (CONTRACT.md sections 2, 3 and 4)."""

import json
import os
import re
import stat
import subprocess

import pytest

from conftest import (AUTHGATE_BIN, CRYPTO_KEY, assert_json_error, free_port, make_config,
                      run_authgate, simple_get)


def test_unknown_auth_endpoint_404_not_forwarded(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/auth/whatever"))
    assert_json_error(c.read_response(), 404)
    c.send(simple_get("/auth/token/whatever/deeper?x=1"))
    assert_json_error(c.read_response(), 404)
    assert upstream.requests() == []


def test_auth_prefix_normalised_before_routing(upstream, gateway):
    """/x/../auth/whatever is /auth/whatever: the gateway's, never the upstream's."""
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/echo/../auth/whatever"))
    assert_json_error(c.read_response(), 404)
    assert upstream.requests() == []


def test_wrong_method_on_gateway_endpoint_405_with_allow(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    # /auth/health is the gateway's own GET endpoint; /auth/login joins it with the users issue.
    c.send(b"DELETE /auth/health HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    r = c.read_response()
    assert_json_error(r, 405)
    assert r.header("allow"), r.headers
    assert upstream.requests() == []


def test_paths_outside_auth_prefix_are_forwarded(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    for p in ("/authx", "/auth-other/x", "/echo/auth/whatever"):
        c.send(simple_get(p))
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == p, (p, r)


# ---------------------------------------------------------------- command line

def write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def good_config():
    return make_config({}, "http://127.0.0.1:%d" % free_port())


def test_version():
    r = run_authgate("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"authgate \d+\.\d+\.\d+\n?", r.stdout), r.stdout


def test_help_lists_commands():
    r = run_authgate("--help")
    assert r.returncode == 0
    # "csu" joins the list with the user store (issue "Users in the gateway").
    for cmd in ("serve", "check", "keygen", "init"):
        assert cmd in r.stdout + r.stderr, cmd


def test_keygen_prints_43_base64url_chars():
    keys = set()
    for _ in range(3):
        r = run_authgate("keygen")
        assert r.returncode == 0
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}\n?", r.stdout), repr(r.stdout)
        keys.add(r.stdout.strip())
    assert len(keys) == 3


def test_check_good_config_exit_0(tmp_path):
    r = run_authgate("check", "--config", write(tmp_path, "good.json", good_config()))
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_keygen_key_accepted(tmp_path):
    key = run_authgate("keygen").stdout.strip()
    cfg = dict(good_config(), **{"cryptography-key": key})
    r = run_authgate("check", "--config", write(tmp_path, "k.json", cfg))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("key,value,extra_word", [
    ("no-such-key", 1, None),
    ("database-api-url", "http://db.example", "redis"),
    ("upstream-timeout", "soon", None),
    ("max-headers", 2, None),
])
def test_check_bad_config_exit_2_names_the_key(tmp_path, key, value, extra_word):
    cfg = dict(good_config(), **{key: value})
    path = write(tmp_path, "bad.json", cfg)
    r = run_authgate("check", "--config", path)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    lines = [line for line in out.splitlines() if key in line]
    assert lines, "no line names %r:\n%s" % (key, out)
    if extra_word:
        assert any(extra_word in line.lower() for line in lines), out


def test_check_short_cryptography_key_exit_2(tmp_path):
    cfg = dict(good_config(), **{"cryptography-key": "too-short"})
    r = run_authgate("check", "--config", write(tmp_path, "short.json", cfg))
    assert r.returncode == 2
    assert "cryptography-key" in r.stdout + r.stderr


def test_check_reports_every_problem(tmp_path):
    cfg = dict(good_config(), **{"bogus-one": 1, "bogus-two": 2})
    r = run_authgate("check", "--config", write(tmp_path, "two.json", cfg))
    out = r.stdout + r.stderr
    assert r.returncode == 2
    assert "bogus-one" in out and "bogus-two" in out, out


def test_check_invalid_json_exit_2(tmp_path):
    r = run_authgate("check", "--config", write(tmp_path, "syntax.json", '{"listen": '))
    assert r.returncode == 2
    assert "syntax.json" in r.stdout + r.stderr


def test_check_missing_file_exit_2(tmp_path):
    r = run_authgate("check", "--config", tmp_path / "absent.json")
    assert r.returncode == 2


def test_serve_without_cryptography_key_exit_2(tmp_path):
    cfg = good_config()
    del cfg["cryptography-key"]
    r = run_authgate("serve", "--config", write(tmp_path, "nokey.json", cfg), timeout=10)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cryptography-key" in r.stdout + r.stderr


def test_serve_takes_cryptography_key_from_env(tmp_path, upstream):
    cfg = make_config({}, upstream.url)
    del cfg["cryptography-key"]
    path = write(tmp_path, "envkey.json", cfg)
    env = dict(os.environ, CRYPTOGRAPHY_KEY=CRYPTO_KEY)
    p = subprocess.Popen([str(AUTHGATE_BIN), "serve", "--config", str(path)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        from conftest import wait_port
        assert wait_port(int(cfg["listen"].rsplit(":", 1)[1]), 10, p), p.stderr.read()
    finally:
        p.terminate()
        assert p.wait(10) == 0


def test_serve_unknown_key_exit_2(tmp_path):
    cfg = dict(good_config(), **{"no-such-key": True})
    r = run_authgate("serve", "--config", write(tmp_path, "unk.json", cfg), timeout=10)
    assert r.returncode == 2
    assert "no-such-key" in r.stdout + r.stderr


def test_unknown_command_exit_2():
    assert run_authgate("frobnicate").returncode == 2


def test_init_writes_private_files_and_refuses_to_overwrite(tmp_path):
    d = tmp_path / "deploy"
    d.mkdir()
    r = run_authgate("init", "--dir", d)
    assert r.returncode == 0, r.stdout + r.stderr
    files = {p: (d / p) for p in ("authgate.json", ".env")}
    for name, p in files.items():
        assert p.exists(), name
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, (name, oct(p.stat().st_mode))
    cfg = json.loads(files["authgate.json"].read_text())
    env_text = files[".env"].read_text()
    key = cfg.get("cryptography-key") or re.search(r"CRYPTOGRAPHY_KEY=['\"]?([^'\"\n]+)", env_text).group(1)
    assert len(key) >= 32
    assert cfg.get("master-token") or "MASTER_TOKEN=" in env_text
    before = {n: p.read_bytes() for n, p in files.items()}
    r2 = run_authgate("init", "--dir", d)
    assert r2.returncode != 0, "init overwrote existing files"
    assert {n: p.read_bytes() for n, p in files.items()} == before
    r3 = run_authgate("check", "--config", files["authgate.json"],
                      env_extra={"CRYPTOGRAPHY_KEY": key})
    assert r3.returncode == 0, "the config init wrote does not pass check:\n" + r3.stdout + r3.stderr


def test_init_twice_gives_fresh_secrets(tmp_path):
    texts = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        assert run_authgate("init", "--dir", d).returncode == 0
        texts.append((d / "authgate.json").read_text() + (d / ".env").read_text())
    assert texts[0] != texts[1]


def test_listen_on_several_addresses(upstream, gateway):
    p1, p2 = free_port(), free_port()
    gw = gateway({"listen": ["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2]})
    from conftest import RawConn, wait_port
    assert wait_port(p2, 5)
    for p in (p1, p2):
        with RawConn(p) as c:
            c.send(simple_get("/echo/port"))
            assert c.read_response().status == 200
    assert gw.port == p1


def test_custom_auth_prefix(upstream, gateway):
    gw = gateway({"auth-prefix": "/gw"})
    c = gw.raw()
    c.send(simple_get("/gw/whatever"))
    assert_json_error(c.read_response(), 404)
    c.send(simple_get("/auth/whatever"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/auth/whatever"
