"""Guessable signing keys are refused (CONTRACT.md section 3; issue 9 point 1).

config.example.json once shipped `"cryptography-key": "REPLACE-ME-with-the-output-of-
authgate-keygen"`: 45 characters, so `check` said ok, `serve` started, and anyone who
read the README could sign a token with `roles: ["superuser"]` that was forwarded
upstream. A key that holds REPLACE-ME or CHANGE-ME (any case), has fewer than 8
distinct characters, or equals master-token is now refused by `check` and `serve`
(exit 2, a line naming `cryptography-key`), from the file and from CRYPTOGRAPHY_KEY.
"""

import json
import signal
import time
import uuid
from pathlib import Path

import jwt
import pytest

from conftest import CRYPTO_KEY, REPO, free_port, make_config, run_authgate, simple_get

OLD_EXAMPLE_KEY = "REPLACE-ME-with-the-output-of-authgate-keygen"
MASTER = "signing-key-test-master-token-0123456789"

# (id, cryptography-key, master-token or None)
WEAK = [
    ("old-example-placeholder", OLD_EXAMPLE_KEY, None),
    ("change-me-lower-case", "change-me-0123456789abcdefghijklmnopqrstuv", None),
    ("x-times-32", "x" * 32, None),
    ("a-times-40", "a" * 40, None),
    ("seven-distinct", "abcdefg" * 6, None),
    ("equal-to-master-token", MASTER, MASTER),
]


def write(tmp_path, name, cfg):
    p = tmp_path / name
    p.write_text(json.dumps(cfg))
    return p


def config_with(key, master):
    cfg = make_config({"master-token": master}, "http://127.0.0.1:%d" % free_port())
    cfg["cryptography-key"] = key
    return cfg


def assert_refused_naming_key(r):
    out = r.stdout + r.stderr
    assert r.returncode == 2, "exit %s, expected 2:\n%s" % (r.returncode, out)
    assert [line for line in r.stderr.splitlines() if "cryptography-key" in line], out
    assert r.stdout == "", out


@pytest.mark.parametrize("key,master", [w[1:] for w in WEAK], ids=[w[0] for w in WEAK])
@pytest.mark.parametrize("command", ["check", "serve"])
def test_weak_key_in_file_refused(tmp_path, command, key, master):
    r = run_authgate(command, "--config", write(tmp_path, "weak.json", config_with(key, master)),
                     timeout=15)
    assert_refused_naming_key(r)


@pytest.mark.parametrize("key,master", [w[1:] for w in WEAK], ids=[w[0] for w in WEAK])
@pytest.mark.parametrize("command", ["check", "serve"])
def test_weak_key_from_env_refused(tmp_path, command, key, master):
    cfg = config_with(key, master)
    del cfg["cryptography-key"]
    env = {"CRYPTOGRAPHY_KEY": key}
    if master is not None:  # and the master token from the environment too
        del cfg["master-token"]
        env["MASTER_TOKEN"] = master
    r = run_authgate(command, "--config", write(tmp_path, "envweak.json", cfg), env_extra=env,
                     timeout=15)
    assert_refused_naming_key(r)


def test_key_equal_to_env_master_token_refused(tmp_path):
    """fastauth-api's README example: one string for both, here half in the file."""
    cfg = config_with(MASTER, None)
    r = run_authgate("check", "--config", write(tmp_path, "mt.json", cfg),
                     env_extra={"MASTER_TOKEN": MASTER})
    assert_refused_naming_key(r)
    r = run_authgate("check", "--config", write(tmp_path, "mt2.json", cfg),
                     env_extra={"MASTER_TOKEN": MASTER + "-other"})
    assert r.returncode == 0, r.stdout + r.stderr


def test_strong_keys_still_accepted(tmp_path):
    for key in (CRYPTO_KEY, run_authgate("keygen").stdout.strip(), "abcdefgh" * 4):
        r = run_authgate("check", "--config", write(tmp_path, "ok.json", config_with(key, MASTER)))
        assert r.returncode == 0, (key, r.stdout + r.stderr)


def superuser_token(key):
    now = int(time.time())
    return jwt.encode({"type": "access", "iss": "authgate", "sub": "attacker",
                       "client_id": "attacker", "roles": ["superuser"], "iat": now,
                       "exp": now + 600, "jti": uuid.uuid4().hex}, key, algorithm="HS256")


def test_old_example_config_never_serves(tmp_path, upstream):
    """The old config.example.json as shipped: serve refuses, nothing reaches the upstream."""
    port = free_port()
    old = {"app-name": "authgate", "listen": "127.0.0.1:%d" % port, "upstream": upstream.url,
           "redis": "redis://127.0.0.1:1/0", "cryptography-key": OLD_EXAMPLE_KEY,
           "master-token-paths": ["/admin"], "access-token-paths": ["/api"], "headers": {},
           "access-log": "stderr"}
    r = run_authgate("serve", "--config", write(tmp_path, "old-example.json", old), timeout=15)
    assert_refused_naming_key(r)
    assert "REPLACE-ME" in r.stderr, r.stderr
    assert upstream.requests() == []


def test_placeholder_key_refused_on_reload(upstream, gateway, redis_server):
    """A running gateway told by SIGHUP to sign with the placeholder keeps its key, and a
    superuser token signed with the placeholder is 401, never forwarded."""
    gw = gateway({"redis": redis_server.url, "access-token-paths": ["/api"]})
    gw.write_config(dict(gw.config, **{"cryptography-key": OLD_EXAMPLE_KEY}))
    gw.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reload refused" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    err = gw.stderr()
    assert "reload refused" in err and "cryptography-key" in err, err
    c = gw.raw()
    c.send(simple_get("/api/admin-only",
                      extra="Authorization: Bearer %s\r\n" % superuser_token(OLD_EXAMPLE_KEY)))
    r = c.read_response()
    assert r.status == 401, r
    assert upstream.requests() == []
    c.send(simple_get("/api/ok", extra="Authorization: Bearer %s\r\n" % superuser_token(CRYPTO_KEY)))
    assert c.read_response().status == 200, "the running key stopped working"


def test_shipped_example_has_no_usable_key(tmp_path):
    """config.example.json carries no key at all: check says the key is required (and how
    to make one); with a fresh key from keygen in CRYPTOGRAPHY_KEY it is a working config."""
    example = Path(REPO) / "config.example.json"
    cfg = json.loads(example.read_text())
    assert "cryptography-key" not in cfg, cfg
    r = run_authgate("check", "--config", example)
    assert_refused_naming_key(r)
    assert "authgate keygen" in r.stderr, r.stderr
    key = run_authgate("keygen").stdout.strip()
    r = run_authgate("check", "--config", example, env_extra={"CRYPTOGRAPHY_KEY": key})
    assert r.returncode == 0, r.stdout + r.stderr
