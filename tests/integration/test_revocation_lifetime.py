"""A revocation lasts until the token it revokes can no longer pass (issue 9 points 3 and
16; CONTRACT.md section 7 "Revocation takes effect at once"; docs/tokens.md "Revocation
lifetime").

Before: a revocation was kept for the *current* access-token-ttl, so lowering the TTL
with a reload brought logged-out tokens back once the short-lived entry expired.
"""

import signal
import time

import requests

from test_tokens import MASTER, decode
from test_users import api, bearer, login_ok, make_user, post, ustart


def reload_ttl(gw, ttl):
    """Rewrites access-token-ttl, sends SIGHUP, and waits until new tokens carry it."""
    gw.write_config(dict(gw.config, **{"access-token-ttl": ttl}))
    gw.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER}, timeout=10)
        c = decode(r.json()["data"]["access_token"])
        if c["exp"] - c["iat"] == ttl:
            return
        time.sleep(0.1)
    raise AssertionError("the reload did not apply access-token-ttl %d" % ttl)


def test_logout_outlives_a_lowered_ttl(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"access-token-ttl": 600})
    u = make_user(gw)
    tok = login_ok(gw, u["username"])["access_token"]
    assert api(gw, tok).status_code == 200
    reload_ttl(gw, 3)
    assert post(gw, "/auth/logout", headers=bearer(tok)).status_code == 200
    assert api(gw, tok).status_code == 401
    time.sleep(5)
    assert api(gw, tok).status_code == 401


def test_logout_covers_a_longer_token_of_the_same_session(gateway, redis_server, upstream):
    """The session keeps the latest end of life of its access tokens: a refresh under a
    lowered TTL does not shorten the revocation of the token minted before it."""
    gw = ustart(gateway, redis_server, upstream, **{"access-token-ttl": 600})
    u = make_user(gw)
    first = login_ok(gw, u["username"])
    reload_ttl(gw, 3)
    r = requests.post(gw.url + "/auth/refresh", json={"refresh_token": first["refresh_token"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    second = r.json()["access_token"]
    assert post(gw, "/auth/logout", headers=bearer(second)).status_code == 200
    time.sleep(5)
    assert api(gw, first["access_token"]).status_code == 401
    assert api(gw, second).status_code == 401


def test_logout_all_outlives_a_lowered_ttl(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"access-token-ttl": 600})
    u = make_user(gw)
    a = login_ok(gw, u["username"])["access_token"]
    b = login_ok(gw, u["username"])["access_token"]
    reload_ttl(gw, 3)
    assert post(gw, "/auth/logout-all", headers=bearer(a)).status_code == 200
    time.sleep(5)
    assert api(gw, a).status_code == 401
    assert api(gw, b).status_code == 401


def test_revocation_outlives_the_exp_leeway(gateway, redis_server, upstream):
    """With token-exp-leeway set, a revoked token must stay refused for as long as the
    leeway could still accept it (issue 9 point 3)."""
    gw = ustart(gateway, redis_server, upstream,
                **{"access-token-ttl": 2, "token-exp-leeway": 5})
    u = make_user(gw)
    tok = login_ok(gw, u["username"])["access_token"]
    exp = decode(tok)["exp"]
    assert post(gw, "/auth/logout", headers=bearer(tok)).status_code == 200
    time.sleep(max(0.0, exp + 3.0 - time.time()))  # past exp, inside the leeway
    assert api(gw, tok).status_code == 401
    # and a token that was not revoked does pass inside the leeway (the test can fail)
    other = login_ok(gw, u["username"])["access_token"]
    time.sleep(max(0.0, decode(other)["exp"] + 1.0 - time.time()))
    assert api(gw, other).status_code == 200
