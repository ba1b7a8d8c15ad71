"""Login CSRF (issue 9 point 19; docs/users.md "CSRF"): the JSON endpoints refuse other
Content-Types with 415 (a cross-site HTML form cannot send application/json), /auth/token
takes only its form type, the endpoints that set cookies refuse a foreign Origin with
403, and with cookie-samesite "none" a cookie-authenticated unsafe proxied request from a
foreign Origin is 403 too.
"""

import json

import requests

from test_users import PW, login_ok, make_user, set_cookies, uname, ustart

CSRF_403 = {"detail": "CSRF check failed: Origin does not match"}
PROXY_403 = dict(CSRF_403, error="forbidden")  # the proxy path's error shape (docs/errors.md)


def post_raw(gw, path, body, ctype, headers=None):
    h = dict(headers or {})
    if ctype is not None:
        h["Content-Type"] = ctype
    return requests.post(gw.url + path, data=body, headers=h, timeout=15)


def test_json_endpoints_refuse_a_text_plain_body_with_415(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    login_body = json.dumps({"username_or_email": u["username"], "password": PW})
    for ctype in ("text/plain", "text/plain;charset=UTF-8", "multipart/form-data; boundary=x",
                  "application/x-www-form-urlencoded", None):
        r = post_raw(gw, "/auth/login", login_body, ctype)
        assert r.status_code == 415, (ctype, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.json() == {"detail": "Content-Type must be application/json"}
        assert set_cookies(r) == []
    n = uname()
    r = post_raw(gw, "/auth/register",
                 json.dumps({"email": n + "@example.com", "username": n, "password": PW}),
                 "text/plain")
    assert r.status_code == 415, r.text
    r = post_raw(gw, "/auth/password/forgot", json.dumps({"email": u["email"]}), "text/plain")
    assert r.status_code == 415, r.text
    # the JSON type, with parameters and in any case, is accepted
    r = post_raw(gw, "/auth/login", login_body, "Application/JSON; charset=utf-8")
    assert r.status_code == 200, r.text


def test_token_grant_takes_only_the_form_type(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    r = requests.post(gw.url + "/auth/token", json={"username": u["username"], "password": PW},
                      timeout=15)
    assert r.status_code == 415, r.text
    assert r.json() == {"detail": "Content-Type must be application/x-www-form-urlencoded"}
    r = requests.post(gw.url + "/auth/token", data={"username": u["username"], "password": PW},
                      timeout=15)
    assert r.status_code == 200, r.text


def test_cookie_setting_endpoints_refuse_a_foreign_origin(gateway, redis_server):
    gw = ustart(gateway, redis_server, cors={"allow-origins": ["https://app.example"]})
    u = make_user(gw)
    host = "127.0.0.1:%d" % gw.port
    body = {"username_or_email": u["username"], "password": PW}
    for origin in ("https://evil.example", "null", "http://%s.evil.example" % host):
        r = requests.post(gw.url + "/auth/login", json=body, headers={"Origin": origin},
                          timeout=15)
        assert r.status_code == 403 and r.json() == CSRF_403, (origin, r.text)
        assert set_cookies(r) == []
        r = requests.post(gw.url + "/auth/token", data={"username": u["username"], "password": PW},
                          headers={"Origin": origin}, timeout=15)
        assert r.status_code == 403 and r.json() == CSRF_403, (origin, r.text)
    n = uname()
    r = requests.post(gw.url + "/auth/register",
                      json={"email": n + "@example.com", "username": n, "password": PW},
                      headers={"Origin": "https://evil.example"}, timeout=15)
    assert r.status_code == 403 and r.json() == CSRF_403
    pair = login_ok(gw, u["username"])
    r = requests.post(gw.url + "/auth/refresh", cookies={"refresh_token": pair["refresh_token"]},
                      headers={"Origin": "https://evil.example"}, timeout=15)
    assert r.status_code == 403 and r.json() == CSRF_403
    # this host, a CORS origin, or no Origin at all (not a browser) may
    for h in ({"Origin": "http://" + host}, {"Origin": "https://app.example"}, {}):
        r = requests.post(gw.url + "/auth/login", json=body, headers=h, timeout=15)
        assert r.status_code == 200, (h, r.text)
        assert len(set_cookies(r)) == 2


def test_a_cross_site_link_to_the_query_refresh_sets_no_cookie(gateway, redis_server):
    """GET /auth/token/refresh sets the cookies (set-cookie-on-login): a link on another
    site, carrying the attacker's refresh token, would sign the victim in as the attacker.
    A link sends no Origin; the browser's Sec-Fetch-Site says where it comes from."""
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    pair = login_ok(gw, u["username"])
    r = requests.get(gw.url + "/auth/token/refresh", params={"refresh_token": pair["refresh_token"]},
                     headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
                     timeout=10)
    assert r.status_code == 403 and r.json() == CSRF_403, r.text
    assert set_cookies(r) == []
    r = requests.post(gw.url + "/auth/login", json={"username_or_email": u["username"],
                                                     "password": PW},
                      headers={"Sec-Fetch-Site": "cross-site"}, timeout=15)
    assert r.status_code == 403 and r.json() == CSRF_403, r.text
    # the same from this site, or from no browser at all, works (the token is unspent)
    r = requests.get(gw.url + "/auth/token/refresh", params={"refresh_token": pair["refresh_token"]},
                     headers={"Sec-Fetch-Site": "same-origin"}, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.get(gw.url + "/auth/token/refresh",
                     params={"refresh_token": r.json()["data"]["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text


def test_samesite_none_checks_origin_on_cookie_authenticated_proxied_writes(
        gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"cookie-samesite": "none", "cookie-secure": True})
    u = make_user(gw)
    host = "127.0.0.1:%d" % gw.port
    jar = {"access_token": login_ok(gw, u["username"])["access_token"]}
    r = requests.post(gw.url + "/api/x", cookies=jar, data="x",
                      headers={"Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 403 and r.json() == PROXY_403, r.text
    r = requests.delete(gw.url + "/api/x", cookies=jar, headers={"Origin": "null"}, timeout=10)
    assert r.status_code == 403 and r.json() == PROXY_403, r.text
    # reads, this host, no Origin, or a Bearer header pass
    r = requests.get(gw.url + "/api/x", cookies=jar, headers={"Origin": "https://evil.example"},
                     timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(gw.url + "/api/x", cookies=jar, data="x", headers={"Origin": "http://" + host},
                      timeout=10)
    assert r.status_code == 200, r.text
    assert requests.post(gw.url + "/api/x", cookies=jar, data="x", timeout=10).status_code == 200
    r = requests.post(gw.url + "/api/x", data="x",
                      headers={"Origin": "https://evil.example",
                               "Authorization": "Bearer " + jar["access_token"]}, timeout=10)
    assert r.status_code == 200, r.text


def test_samesite_lax_leaves_proxied_writes_to_the_browser(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    jar = {"access_token": login_ok(gw, u["username"])["access_token"]}
    r = requests.post(gw.url + "/api/x", cookies=jar, data="x",
                      headers={"Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 200, r.text
