"""Client and user subjects never collide (issue 9 point 12; CONTRACT.md sections 5, 7;
docs/tokens.md "Client tokens").

With /auth/token/new open, anyone could ask for a client token whose client_id is a
user's id. Such a token must never act as that user: its sub is "client:<id>" with
"sub_type": "client", the user endpoints treat it as having no user (404), and the
upstream can tell it apart. The password grant's client_id is not trusted either.
"""

import requests

from test_tokens import decode
from test_users import PW, api, bearer, login_ok, make_user, post, token_form, ustart

USER_404 = {"detail": "User not found"}


def upstream_identity(up, path):
    rec = [r for r in up.requests() if r["target"] == path][-1]
    return {k.lower(): v for k, v in rec["headers"] if k.lower().startswith("x-auth-")}


def open_new(gw, client_id):
    r = requests.get(gw.url + "/auth/token/new", params={"client_id": client_id}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_client_token_named_after_a_user_id_is_not_that_user(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"token-new-requires-master": False})
    alice = make_user(gw)
    mine = login_ok(gw, alice["username"])

    data = open_new(gw, alice["id"])
    assert data["client_id"] == alice["id"]  # the envelope keeps what the caller gave
    claims = decode(data["access_token"])
    assert claims["sub"] == "client:" + alice["id"] and claims["sub_type"] == "client"
    assert claims["client_id"] == alice["id"]
    assert decode(data["refresh_token"])["sub"] == "client:" + alice["id"]
    forged = bearer(data["access_token"])

    r = requests.get(gw.url + "/auth/me", headers=forged, timeout=10)
    assert r.status_code == 404 and r.json() == USER_404
    assert r.headers["Content-Type"] == "application/json"
    r = requests.get(gw.url + "/auth/sessions", headers=forged, timeout=10)
    assert r.status_code == 404 and r.json() == USER_404
    sid = decode(mine["access_token"])["sid"]
    r = requests.delete(gw.url + "/auth/sessions/" + sid, headers=forged, timeout=10)
    assert r.status_code == 404 and r.json() == USER_404
    r = post(gw, "/auth/logout-all", headers=forged)
    assert r.status_code == 404 and r.json() == USER_404
    r = post(gw, "/auth/password", {"current_password": PW, "new_password": "x" * 20},
             headers=forged)
    assert r.status_code == 404 and r.json() == USER_404

    # alice was not logged out, and the upstream tells the two apart
    assert requests.get(gw.url + "/auth/me", headers=bearer(mine["access_token"]),
                        timeout=10).json()["id"] == alice["id"]
    assert api(gw, data["access_token"], "/api/as-client").status_code == 200
    assert upstream_identity(upstream, "/api/as-client") == {
        "x-auth-subject": "client:" + alice["id"], "x-auth-client-id": alice["id"]}
    assert api(gw, mine["access_token"], "/api/as-alice").status_code == 200
    assert upstream_identity(upstream, "/api/as-alice")["x-auth-subject"] == alice["id"]


def test_refreshed_client_pair_stays_a_client(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"token-new-requires-master": False})
    alice = make_user(gw)
    data = open_new(gw, alice["id"])
    r = requests.post(gw.url + "/auth/refresh", json={"refresh_token": data["refresh_token"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    c = decode(r.json()["access_token"])
    assert c["sub"] == "client:" + alice["id"] and c["sub_type"] == "client"
    r = requests.get(gw.url + "/auth/me", headers=bearer(r.json()["access_token"]), timeout=10)
    assert r.status_code == 404 and r.json() == USER_404


def test_client_logout_ends_only_its_own_session(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"token-new-requires-master": False})
    data = open_new(gw, "svc-logout")
    assert api(gw, data["access_token"]).status_code == 200
    r = post(gw, "/auth/logout", headers=bearer(data["access_token"]))
    assert r.status_code == 200, r.text
    assert api(gw, data["access_token"]).status_code == 401


def test_password_grant_client_id_does_not_reach_upstream(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"app-name": "shop"})
    u = make_user(gw)
    r = token_form(gw, {"username": u["username"], "password": PW,
                        "client_id": "billing-service"})
    assert r.status_code == 200, r.text
    c = decode(r.json()["access_token"])
    assert c["sub"] == u["id"] and c["client_id"] == "shop" and "sub_type" not in c
    assert api(gw, r.json()["access_token"], "/api/grant").status_code == 200
    assert upstream_identity(upstream, "/api/grant") == {"x-auth-subject": u["id"],
                                                         "x-auth-client-id": "shop"}
