"""Custom user fields and profile updates through the real binary on a real redis-server
(CONTRACT.md section 14 "user-fields"; docs/users.md "Custom fields", "PATCH /me"):
register with declared fields (each refusal 422 naming the field), the user object,
PATCH /auth/me (fields, and the email only with current_password, kept unique and in the
admin index), token-claims in access tokens (changed at the next refresh), the fields'
identity headers upstream (a client's forged copy stripped), and bad configs (exit 2).
"""

import json

import requests

from conftest import hdr_all, run_authgate
from test_tokens import MASTER, decode
from test_users import (PW, USER_KEYS, bearer, login, login_ok, me, post, redis_cmd, refresh_post,
                        uname, user_key, ustart)

FIELDS = {
    "department": {"type": "string", "required": True, "max-length": 8},
    "age": {"type": "integer"},
    "newsletter": {"type": "boolean", "required": False},
}
CFG = {"user-fields": FIELDS, "token-claims": ["department", "age"],
       "identity-headers": {"fields": {"department": "X-Auth-Department"}}}
MH = {"MASTER-TOKEN": MASTER}


def start(gateway, redis_server, upstream=None, **over):
    cfg = dict(CFG)
    cfg.update(over)
    return ustart(gateway, redis_server, upstream, **cfg)


def reg(gw, **extra):
    name = uname()
    body = {"email": "%s@example.com" % name, "username": name, "password": PW}
    body.update(extra)
    return post(gw, "/auth/register", body)


def patch_me(gw, access, body, **kw):
    return requests.patch(gw.url + "/auth/me", json=body, headers=bearer(access), timeout=15, **kw)


def assert_422(r, field, typ=None):
    assert r.status_code == 422, (r.status_code, r.text)
    d = r.json()["detail"]
    assert len(d) == 1 and d[0]["loc"] == ["body", field], d
    if typ is not None:
        assert d[0]["type"] == typ, d


# ---------------------------------------------------------------- register and the user object

def test_register_stores_and_returns_the_fields(gateway, redis_server):
    gw = start(gateway, redis_server)
    r = reg(gw, department="sales", age=41, newsletter=True)
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["department"] == "sales" and u["age"] == 41 and u["newsletter"] is True
    assert set(u) == set(USER_KEYS) | {"department", "age", "newsletter"}
    # kept with the user: one JSON object in the user hash
    stored = redis_cmd(redis_server.port, "HGET", user_key(u["id"]), "fields")
    assert json.loads(stored) == {"age": 41, "department": "sales", "newsletter": True}
    # /auth/me and the admin API show the same object
    access = login_ok(gw, u["username"])["access_token"]
    assert me(gw, access).json() == u
    a = requests.get(gw.url + "/auth/admin/users/" + u["id"], headers=MH, timeout=10)
    assert a.status_code == 200 and a.json() == u


def test_register_without_optional_fields_leaves_them_out(gateway, redis_server):
    gw = start(gateway, redis_server)
    r = reg(gw, department="ops", newsletter=None)
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["department"] == "ops" and "age" not in u and "newsletter" not in u


def test_register_refusals_name_the_field(gateway, redis_server):
    gw = start(gateway, redis_server)
    assert_422(reg(gw), "department", "value_error.missing")
    assert_422(reg(gw, department=None), "department", "type_error.none.not_allowed")
    assert_422(reg(gw, department="sales", shoe_size=44), "shoe_size", "value_error.extra")
    assert_422(reg(gw, department=7), "department", "type_error.str")
    assert_422(reg(gw, department="x" * 9), "department", "value_error.any_str.max_length")
    assert reg(gw, department="é" * 8).status_code == 201  # characters, not bytes
    assert_422(reg(gw, department="a\u0000b"), "department")
    assert_422(reg(gw, department="sales", age="41"), "age", "type_error.integer")
    assert_422(reg(gw, department="sales", age=4.5), "age", "type_error.integer")
    assert_422(reg(gw, department="sales", age=True), "age", "type_error.integer")
    assert_422(reg(gw, department="sales", newsletter="yes"), "newsletter", "type_error.bool")
    assert_422(reg(gw, department="sales", newsletter=1), "newsletter", "type_error.bool")


def test_without_user_fields_other_members_are_ignored_as_before(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    r = reg(gw, department="sales")
    assert r.status_code == 201, r.text
    assert set(r.json()) == set(USER_KEYS)


# ---------------------------------------------------------------- PATCH /auth/me

def test_patch_me_changes_and_clears_fields(gateway, redis_server):
    gw = start(gateway, redis_server)
    u = reg(gw, department="sales", age=30).json()
    access = login_ok(gw, u["username"])["access_token"]
    r = patch_me(gw, access, {"age": 31, "newsletter": False})
    assert r.status_code == 200, r.text
    assert r.json()["age"] == 31 and r.json()["newsletter"] is False
    assert r.json()["department"] == "sales"
    r = patch_me(gw, access, {"age": None})
    assert r.status_code == 200 and "age" not in r.json()
    assert me(gw, access).json() == r.json()
    # an empty body changes nothing
    assert patch_me(gw, access, {}).json() == r.json()
    # refusals: a required field cannot be cleared, types and undeclared names as register
    assert_422(patch_me(gw, access, {"department": None}), "department")
    assert_422(patch_me(gw, access, {"age": "x"}), "age", "type_error.integer")
    assert_422(patch_me(gw, access, {"hobby": "x"}), "hobby", "value_error.extra")
    for name, value in (("id", "x"), ("is_active", False), ("is_staff", True),
                        ("is_superuser", True), ("roles", ["admin"]), ("username", "other"),
                        ("password", PW)):
        assert_422(patch_me(gw, access, {name: value}), name, "value_error.readonly")
    # duplicate keys are refused as in every body
    r = requests.patch(gw.url + "/auth/me", data='{"age":1,"age":2}',
                       headers=dict(bearer(access), **{"Content-Type": "application/json"}),
                       timeout=10)
    assert r.status_code == 422
    assert me(gw, access).json() == patch_me(gw, access, {}).json()
    # no token: 401; a cookie-borne token from another site: 403 (CSRF)
    assert requests.patch(gw.url + "/auth/me", json={"age": 1}, timeout=10).status_code == 401
    r = requests.patch(gw.url + "/auth/me", json={"age": 1}, cookies={"access_token": access},
                       headers={"Origin": "http://evil.example"}, timeout=10)
    assert r.status_code == 403
    assert "age" not in me(gw, access).json()


def test_patch_me_email_needs_the_current_password(gateway, redis_server):
    gw = start(gateway, redis_server)
    u = reg(gw, department="sales").json()
    other = reg(gw, department="ops").json()
    access = login_ok(gw, u["username"])["access_token"]
    new = "Moved.%s@Example.org" % u["username"][::-1]  # does not contain the old address
    assert_422(patch_me(gw, access, {"email": new}), "current_password", "value_error.missing")
    assert_422(patch_me(gw, access, {"email": "not-an-email", "current_password": PW}), "email")
    r = patch_me(gw, access, {"email": new, "current_password": "wrong password!"})
    assert r.status_code == 401 and r.json() == {"detail": "Incorrect password"}
    # another user's email, in any case: 409 as register answers
    r = patch_me(gw, access, {"email": other["email"].upper(), "current_password": PW})
    assert r.status_code == 409 and r.json() == {"detail": "Email already registered"}
    assert me(gw, access).json()["email"] == u["email"]

    r = patch_me(gw, access, {"email": new, "current_password": PW, "age": 5})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == new and r.json()["age"] == 5
    # the new email logs in, the old one is free for someone else
    assert login(gw, new.lower()).status_code == 200
    assert login(gw, u["email"]).status_code == 401
    assert reg(gw, department="x", email=u["email"]).status_code == 201
    assert reg(gw, department="x", email=new.upper()).status_code == 409
    # the admin search finds the new email and no longer the old one
    q = requests.get(gw.url + "/auth/admin/users", params={"q": new.upper()},
                     headers=MH, timeout=10).json()
    assert [x["id"] for x in q["users"]] == [u["id"]]
    q = requests.get(gw.url + "/auth/admin/users", params={"q": u["email"]}, headers=MH,
                     timeout=10).json()
    assert u["id"] not in [x["id"] for x in q["users"]]
    # audited with both addresses
    entries = redis_cmd(redis_server.port, "XREVRANGE", "{authgate}:audit", "+", "-", "COUNT", "50")
    ev = [dict(zip(e[1][::2], e[1][1::2])) for e in entries]
    ch = [e for e in ev if e["event"] == "email_change"]
    assert len(ch) == 1 and ch[0]["old_email"] == u["email"] and ch[0]["new_email"] == new, ch


# ---------------------------------------------------------------- tokens and identity headers

def test_token_claims_follow_the_record_at_the_next_refresh(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    u = reg(gw, department="sales", age=30, newsletter=True).json()
    pair = login_ok(gw, u["username"])
    claims = decode(pair["access_token"])
    assert claims["department"] == "sales" and claims["age"] == 30
    assert "newsletter" not in claims  # not in token-claims
    assert "department" not in decode(pair["refresh_token"])
    assert patch_me(gw, pair["access_token"], {"department": "ops", "age": None}).status_code == 200
    assert decode(pair["access_token"])["department"] == "sales"  # the old token says what it said
    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 200, r.text
    claims = decode(r.json()["access_token"])
    assert claims["department"] == "ops" and "age" not in claims


def test_identity_header_goes_upstream_and_a_forged_copy_is_stripped(gateway, redis_server,
                                                                     upstream):
    gw = start(gateway, redis_server, upstream)
    u = reg(gw, department="sales").json()
    access = login_ok(gw, u["username"])["access_token"]
    forged = [("X-Auth-Department", "board"), ("x_auth_department", "board"),
              ("X.Auth.Department", "board")]
    h = [("Authorization", "Bearer " + access)] + forged
    s = requests.Session()
    req = requests.Request("GET", gw.url + "/api/x", headers=dict(h)).prepare()
    r = s.send(req, timeout=10)
    assert r.status_code == 200, r.text
    got = r.json()["headers"]
    assert hdr_all(got, "X-Auth-Department") == ["sales"], got
    assert not [k for k, _ in got if k.lower() in ("x_auth_department", "x.auth.department")], got
    # without a token on a public path, the forged header never reaches the upstream
    upstream.reset()
    r = requests.get(gw.url + "/open", headers={"X-Auth-Department": "board"}, timeout=10)
    assert r.status_code == 200
    assert hdr_all(r.json()["headers"], "X-Auth-Department") == [], r.json()["headers"]


# ---------------------------------------------------------------- bad configs

def test_bad_configs_exit_2_naming_the_key(tmp_path, upstream):
    base = {"upstream": upstream.url, "master-token": MASTER,
            "cryptography-key": "k" * 16 + "0123456789abcdef"}
    bad = [
        ({"user-fields": {"email": {"type": "string"}}}, "user-fields.email"),
        ({"user-fields": {"roles": {"type": "string"}}}, "user-fields.roles"),
        ({"user-fields": {"9x": {"type": "string"}}}, "user-fields.9x"),
        ({"user-fields": {"a": {"type": "float"}}}, "user-fields.a.type"),
        ({"user-fields": {"a": {}}}, "user-fields.a"),
        ({"user-fields": {"a": {"type": "integer", "max-length": 3}}}, "user-fields.a"),
        ({"user-fields": {"a": {"type": "string", "max-length": 0}}}, "user-fields.a.max-length"),
        ({"user-fields": {"a": {"type": "string", "colour": 1}}}, "user-fields.a"),
        ({"user-fields": {"f%d" % i: {"type": "string"} for i in range(33)}}, "user-fields"),
        ({"user-fields": {"a": {"type": "string"}}, "token-claims": ["b"]}, "token-claims[0]"),
        ({"user-fields": {"sub": {"type": "string"}}, "token-claims": ["sub"]}, "token-claims[0]"),
        ({"user-fields": {"scope": {"type": "string"}}}, "user-fields.scope"),
        ({"user-fields": {"a": {"type": "string"}},
          "identity-headers": {"fields": {"a": "X-A"}}}, "identity-headers.fields.a"),
        ({"user-fields": {"a": {"type": "string"}}, "token-claims": ["a"],
          "identity-headers": {"fields": {"a": "X-Auth-Subject"}}}, "identity-headers.fields.a"),
        ({"user-fields": {"a": {"type": "string"}}, "token-claims": ["a"],
          "identity-headers": {"fields": {"a": "Cookie"}}}, "identity-headers.fields.a"),
    ]
    for over, key in bad:
        cfg = dict(base)
        cfg.update(over)
        p = tmp_path / "authgate.json"
        p.write_text(json.dumps(cfg))
        r = run_authgate("check", "--config", p)
        assert r.returncode == 2, (over, r.stdout, r.stderr)
        assert key in r.stderr, (key, r.stderr)
    cfg = dict(base)
    cfg.update(CFG)
    p = tmp_path / "authgate.json"
    p.write_text(json.dumps(cfg))
    r = run_authgate("check", "--config", p)
    assert r.returncode == 0, r.stderr
