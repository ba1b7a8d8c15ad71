"""The admin console (CONTRACT.md section 13, last point; docs/admin.md "Console") in a
real browser: headless Chromium driven by Selenium (Debian's chromium, chromium-driver
and python3-selenium) against the real binary, a real redis-server and the real admin
API, plus its headers and files with python-requests.

Every browser test fails on any CSP violation, Trusted Types refusal, uncaught error or
console.error in the browser log, and on any failed request it did not expect (the 401s
of a visitor without a session and the 403 of a non-admin are expected, and named).
Screenshots of each screen go to build-logs/console-*.png at the repository root.

Chromium runs with --headless=new --no-sandbox --disable-dev-shm-usage: there is no
display here, the tests run as root (Chromium refuses its sandbox to root), and /dev/shm
is small in containers (docs/admin.md says the same).
"""

import base64
import hashlib
import json
import re
import urllib.parse

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import REPO
from test_tokens import MASTER
from test_users import PW, redis_cmd, uname, user_key, ustart

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = REPO / "build-logs"
CONSOLE_SRC = REPO / "gateway" / "console"
MH = {"MASTER-TOKEN": MASTER}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "require-trusted-types-for 'script'; trusted-types 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
XSS = "<img src=x onerror=alert(1)>"
WAIT = 10  # seconds an expected element may take to render (a bound, never a sleep)


# ---------------------------------------------------------------- the gateway side

def console_gw(gateway, redis_server, **over):
    """A gateway whose login sets the cookies the console runs on: the defaults
    (set-cookie-on-login, accept-cookie, cookie-secure: Chromium keeps Secure cookies
    of http://127.0.0.1, a secure context) with fast password hashing."""
    cfg = {"cookie-secure": True}
    cfg.update(over)
    return ustart(gateway, redis_server, **cfg)


def prefix_of(gw):
    return gw.config.get("auth-prefix", "/auth")


def register(gw, name=None, email=None, ua=None):
    name = name or uname("c")
    r = requests.post(gw.url + prefix_of(gw) + "/register",
                      json={"username": name, "email": email or name + "@example.com",
                            "password": PW}, timeout=15)
    assert r.status_code == 201, r.text
    return r.json()


def login(gw, name, ua=None):
    """A session of <name> opened with requests (User-Agent <ua>): its token pair."""
    h = {"User-Agent": ua} if ua else {}
    r = requests.post(gw.url + prefix_of(gw) + "/login",
                      json={"username_or_email": name, "password": PW}, headers=h, timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def set_flags(redis_server, uid, **flags):
    """Flags straight in Redis (the way the admin API's tests make admins)."""
    args = []
    for k, v in flags.items():
        args += [k, "1" if v else "0"]
    redis_cmd(redis_server.port, "HSET", user_key(uid), *args)


def make_admin(gw, redis_server, **flags):
    u = register(gw)
    set_flags(redis_server, u["id"], **(flags or {"is_superuser": True}))
    return u


def admin_api(gw, method, path, **kw):
    return requests.request(method, gw.url + prefix_of(gw) + "/admin" + path, headers=MH,
                            timeout=15, **kw)


# ---------------------------------------------------------------- the browser

class Browser:
    """One headless Chromium with its browser log collected (goog:loggingPrefs)."""

    NETWORK_RE = re.compile(r"^(\S+) - Failed to load resource: the server responded with a "
                            r"status of (\d+)")

    def __init__(self):
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                  "--window-size=1280,900", "--lang=en-US"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.log = []
        self.allowed = set()  # (path, status) of failed requests a test expects

    def quit(self):
        self.d.quit()

    # ---- the log

    def expect_refusal(self, path, status):
        """A failed request the test provokes: <path> (no query) answered <status>."""
        self.allowed.add((path, status))

    def collect(self):
        self.log += self.d.get_log("browser")

    def problems(self):
        """What in the browser log fails a test: every CSP or Trusted Types report, uncaught
        error, console.error or warning, and every failed request not expected."""
        self.collect()
        bad = []
        for e in self.log:
            if e["source"] == "network":
                m = self.NETWORK_RE.match(e["message"])
                if m:
                    u = urllib.parse.urlsplit(m.group(1))
                    if (u.path, int(m.group(2))) in self.allowed:
                        continue
                bad.append(e)
            elif e["level"] in ("SEVERE", "WARNING") or e["source"] in ("security", "javascript"):
                bad.append(e)
        return bad

    # ---- the page

    def open(self, gw, hash_=""):
        self.d.get(gw.url + prefix_of(gw) + "/admin/" + hash_)

    def wait(self, cond, what, timeout=WAIT):
        """Until cond() is truthy; an element the page re-rendered meanwhile (a debounced
        search, a reload) only means cond() is asked again."""
        try:
            return WebDriverWait(self.d, timeout, ignored_exceptions=(
                StaleElementReferenceException,)).until(lambda d: cond())
        except TimeoutException:
            self.collect()
            raise AssertionError("waited %d s for %s; error: %r; browser log: %s"
                                 % (timeout, what, self.error_text(), self.log)) from None

    def all(self, name):
        return self.d.find_elements(By.CSS_SELECTOR, '[data-test="%s"]' % name)

    def one(self, name):
        """The one displayed element data-test=<name>, waited for."""
        return self.wait(lambda: next((e for e in self.all(name) if e.is_displayed()), None),
                         "[data-test=%s] to show" % name)

    def error_text(self):
        els = self.all("error")
        return els[0].text if els and els[0].is_displayed() else ""

    def wait_error(self, contains):
        return self.wait(lambda: contains in self.error_text(), "the error %r" % contains)

    def rows(self, name):
        return [e.text for e in self.all(name) if e.is_displayed()]

    def wait_rows(self, name, pred, what):
        """Waits until the screen is rendered (data-state ready) and pred(row texts) holds."""
        def ok():
            busy = self.d.find_elements(By.CSS_SELECTOR, "section[data-state=loading]")
            rows = [] if busy else self.rows(name)
            return (rows,) if not busy and pred(rows) else None
        return self.wait(ok, what)[0]  # the rows that held, not a second read

    def status_text(self):
        return self.d.find_element(By.ID, "status").text

    def sign_in(self, name, password=PW):
        u = self.one("login-username")
        u.clear()
        u.send_keys(name)
        p = self.one("login-password")
        p.clear()
        p.send_keys(password)
        self.one("login-submit").click()

    def wait_signed_in(self):
        self.wait(lambda: self.d.find_element(By.ID, "whoami").text.startswith("Signed in as"),
                  "the signed-in header")

    def shot(self, name):
        """The whole page (beyond the window) into build-logs/console-<name>.png."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        m = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = m.get("cssContentSize") or m["contentSize"]
        # captured beyond the window the page has no scroll bar: the window's whole width
        width = max(size["width"], self.d.execute_script("return window.innerWidth"))
        png = self.d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1}})
        (SHOTS / ("console-%s.png" % name)).write_bytes(base64.b64decode(png["data"]))

    def no_overflow(self):
        return self.d.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.fixture
def browser():
    b = Browser()
    try:
        yield b
        bad = b.problems()
    finally:
        b.quit()
    if bad:
        pytest.fail("browser log:\n" + "\n".join(json.dumps(e) for e in bad), pytrace=False)


def expect_visitor(b, gw):
    """The refusals a visitor without a session causes: /me, then the refresh."""
    b.expect_refusal(prefix_of(gw) + "/me", 401)
    b.expect_refusal(prefix_of(gw) + "/refresh", 401)


def sign_in_as_admin(b, gw, redis_server, hash_=""):
    admin = make_admin(gw, redis_server)
    expect_visitor(b, gw)
    b.open(gw, hash_)
    b.sign_in(admin["username"])
    b.wait_signed_in()
    return admin


# ---------------------------------------------------------------- headers and files

def assert_security_headers(r):
    for k, v in SECURITY_HEADERS.items():
        assert r.headers.get(k) == v, (r.url, k, r.headers.get(k))
    csp = r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def asset_urls(html):
    return re.findall(r'(?:src|href)="(assets/[^"]+)"', html)


def test_page_assets_and_their_headers(gateway, redis_server):
    gw = console_gw(gateway, redis_server)
    base = gw.url + "/auth/admin"

    r = requests.get(base, allow_redirects=False, timeout=10)
    assert r.status_code == 308 and r.headers["Location"] == "/auth/admin/", r.headers
    assert_security_headers(r)

    r = requests.get(base + "/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert_security_headers(r)
    html = r.text
    # No inline script or style, no inline handler, nothing from another origin.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="assets/' in a and body == "" for a, body in scripts), scripts
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"(?:src|href|action)=\"(?!assets/|#)", html)

    urls = asset_urls(html)
    names = {u.split("/", 1)[1] for u in urls}
    assert {n.split(".")[0] + "." + n.rsplit(".", 1)[1] for n in names} == \
        {"app.js", "app.css", "icon.svg"}, names
    ctypes = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
              ".svg": "image/svg+xml"}
    for name in sorted(names):
        m = re.fullmatch(r"(\w+)\.([0-9a-f]{8})(\.\w+)", name)
        assert m, name
        r = requests.get(base + "/assets/" + name, timeout=10)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"] == ctypes[m.group(3)]
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert_security_headers(r)
        # The name's hash is the content's, and the content is the source file's.
        assert hashlib.sha256(r.content).hexdigest()[:8] == m.group(2)
        assert r.content == (CONSOLE_SRC / (m.group(1) + m.group(3))).read_bytes()
        if m.group(3) != ".svg":
            assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
        if m.group(3) == ".js":
            # (the CSP's Trusted Types would refuse these at run time anyway)
            for sink in (r"\.innerHTML\b", r"\.outerHTML\b", r"insertAdjacentHTML\(",
                         r"document\.write", r"\beval\(", r"\bFunction\(",
                         r"setTimeout\(\s*['\"`]"):
                assert not re.search(sink, r.text), sink
        h = requests.head(base + "/assets/" + name, timeout=10)
        assert h.status_code == 200 and h.content == b""
        assert h.headers["Content-Length"] == str(len(r.content))
        # A stale hash (or none) is not the file.
        stale = m.group(1) + ".00000000" + m.group(3)
        assert requests.get(base + "/assets/" + stale, timeout=10).status_code == 404
        assert requests.get(base + "/assets/" + m.group(1) + m.group(3),
                            timeout=10).status_code == 404

    r = requests.get(base + "/assets/nope.js", timeout=10)
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert_security_headers(r)
    r = requests.post(base + "/", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    # The page is public; the data behind it is not.
    assert requests.get(base + "/users", timeout=10).status_code == 401


def test_any_auth_prefix(gateway, redis_server, browser):
    """Relative URLs: the console works under another auth-prefix, redirect included."""
    gw = console_gw(gateway, redis_server, **{"auth-prefix": "/_gw/auth"})
    r = requests.get(gw.url + "/_gw/auth/admin", allow_redirects=False, timeout=10)
    assert r.status_code == 308 and r.headers["Location"] == "/_gw/auth/admin/"
    admin = make_admin(gw, redis_server)
    expect_visitor(browser, gw)
    browser.d.get(gw.url + "/_gw/auth/admin")  # the redirect, then the page
    browser.sign_in(admin["username"])
    browser.wait_signed_in()
    rows = browser.wait_rows("user-row", lambda r: any(admin["username"] in t for t in r),
                             "the admin in the list")
    assert browser.d.current_url.startswith(gw.url + "/_gw/auth/admin/")
    assert rows


# ---------------------------------------------------------------- sign-in, users

def test_sign_in_search_paging_and_sign_out(gateway, redis_server, browser):
    gw = console_gw(gateway, redis_server)
    b = browser
    admin = make_admin(gw, redis_server)
    tag = uname("Pg")
    made = [register(gw, "%s_%d" % (tag, i)) for i in range(5)]

    expect_visitor(b, gw)
    b.open(gw)
    b.one("login-username")
    assert b.error_text() == ""  # a first visit is no failure
    assert not b.d.find_element(By.ID, "nav").is_displayed()
    b.shot("signin")

    # A wrong password is shown, and nothing opens.
    b.expect_refusal("/auth/login", 401)
    b.sign_in(admin["username"], "wrong password 1")
    b.wait_error("Incorrect username or password")
    assert not b.all("user-row")

    b.sign_in(admin["username"])
    b.wait_signed_in()
    assert b.error_text() == ""
    assert b.d.find_element(By.ID, "whoami").text == "Signed in as " + admin["username"]
    b.wait_rows("user-row", lambda r: len(r) == 6, "every user")
    # the session is the cookies': HttpOnly, so the page's script never sees a token
    names = {c["name"]: c for c in b.d.get_cookies()}
    assert names["access_token"]["httpOnly"] and names["refresh_token"]["httpOnly"]
    assert names["access_token"]["secure"]
    assert b.d.execute_script("return document.cookie") == ""

    # Search: case ignored, substring of username or email.
    search = b.one("user-search")
    search.send_keys(tag.lower() + Keys.ENTER)
    rows = b.wait_rows("user-row", lambda r: len(r) == 5, "the 5 tagged users")
    assert all(tag in t for t in rows)
    assert [t.split()[0] for t in rows] == [u["username"] for u in made]  # oldest first
    b.shot("users")
    search.clear()
    search.send_keys(made[3]["email"].upper())  # typing alone searches (debounced)
    rows = b.wait_rows("user-row", lambda r: len(r) == 1, "one user by email")
    assert made[3]["username"] in rows[0]

    # Paging: 2 per page over the 5.
    b.open(gw, "#/users?q=%s&limit=2" % tag)
    rows = b.wait_rows("user-row", lambda r: len(r) == 2 and made[0]["username"] in r[0],
                       "page 1")
    assert b.d.find_element(By.ID, "page-range").text == "1–2 of 5"
    assert not b.d.find_element(By.ID, "page-prev").is_enabled()
    for first, want in ((2, 2), (4, 1)):
        b.d.find_element(By.ID, "page-next").click()
        rows = b.wait_rows("user-row", lambda r, f=first, w=want: len(r) == w and
                           made[f]["username"] in r[0], "the page from %d" % first)
    assert [t.split()[0] for t in rows] == [made[4]["username"]]
    assert not b.d.find_element(By.ID, "page-next").is_enabled()
    assert b.d.find_element(By.ID, "page-range").text == "5–5 of 5"
    b.d.back()  # the pages are in the history
    b.wait_rows("user-row", lambda r: len(r) == 2 and made[2]["username"] in r[0], "back")
    Select(b.d.find_element(By.ID, "page-size")).select_by_visible_text("10")
    b.wait_rows("user-row", lambda r: len(r) == 5, "a page of 10")

    # A reload keeps the session; without the access cookie the refresh cookie renews it.
    b.d.refresh()
    b.wait_signed_in()
    b.d.delete_cookie("access_token")
    b.d.refresh()
    b.wait_signed_in()
    b.wait_rows("user-row", lambda r: len(r) == 5, "the list after a refresh")
    assert "access_token" in {c["name"] for c in b.d.get_cookies()}

    # Sign out: the session ends on the gateway, not only in the page.
    refresh_cookie = {c["name"]: c["value"] for c in b.d.get_cookies()}["refresh_token"]
    b.d.find_element(By.ID, "signout").click()
    b.one("login-username")
    assert not b.all("user-row") or not any(e.is_displayed() for e in b.all("user-row"))
    r = requests.post(gw.url + "/auth/refresh", cookies={"refresh_token": refresh_cookie},
                      timeout=10)
    assert r.status_code == 401
    b.d.refresh()
    b.one("login-username")


def test_keyboard_sign_in_and_a_narrow_screen(gateway, redis_server, browser):
    gw = console_gw(gateway, redis_server)
    b = browser
    admin = make_admin(gw, redis_server)
    target = register(gw)
    login(gw, target["username"], ua="Mozilla/5.0 (iPhone) narrow-test")
    b.d.set_window_size(390, 844)
    expect_visitor(b, gw)
    b.open(gw)
    # The username field has the focus; Tab and Enter do the rest.
    b.wait(lambda: b.d.switch_to.active_element.get_attribute("data-test") == "login-username",
           "the focus on the username")
    b.d.switch_to.active_element.send_keys(admin["username"] + Keys.TAB)
    assert b.d.switch_to.active_element.get_attribute("data-test") == "login-password"
    b.d.switch_to.active_element.send_keys(PW + Keys.TAB)
    assert b.d.switch_to.active_element.get_attribute("data-test") == "login-submit"
    b.shot("narrow-signin")
    b.d.switch_to.active_element.send_keys(Keys.ENTER)
    b.wait_signed_in()
    b.wait_rows("user-row", lambda r: len(r) == 2, "the users")
    assert b.no_overflow()
    b.shot("narrow-users")
    # The row's link is reachable with the keyboard and opens the user.
    link = next(e for e in b.all("user-row") if target["username"] in e.text) \
        .find_element(By.TAG_NAME, "a")
    link.send_keys(Keys.ENTER)
    b.wait_rows("session-row", lambda r: len(r) == 1, "the user's session")
    assert b.no_overflow()
    b.shot("narrow-user")
    b.one("nav-audit").click()
    b.wait(lambda: b.d.find_element(By.ID, "screen-audit").get_attribute("data-state") == "ready",
           "the audit log")
    assert b.no_overflow()


# ---------------------------------------------------------------- one user

def open_user(b, gw, user):
    b.one("user-search").send_keys(user["username"] + Keys.ENTER)
    b.wait_rows("user-row", lambda r: len(r) == 1 and user["username"] in r[0], "the user's row")
    b.all("user-row")[0].find_element(By.LINK_TEXT, user["username"]).click()
    b.wait(lambda: b.d.find_element(By.ID, "user-h").text == user["username"], "the user's screen")


def sessions_of(gw, uid):
    r = admin_api(gw, "GET", "/users/%s/sessions" % uid)
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


def test_user_sessions_roles_deactivate_delete(gateway, redis_server, browser):
    gw = console_gw(gateway, redis_server)
    b = browser
    target = register(gw)
    pairs = [login(gw, target["username"], ua="Firefox-%d" % i) for i in range(2)]
    sign_in_as_admin(b, gw, redis_server)
    b.wait_rows("user-row", lambda r: len(r) >= 2, "the list")
    open_user(b, gw, target)
    rows = b.wait_rows("session-row", lambda r: len(r) == 2, "two sessions")
    assert sorted("Firefox-0" in t for t in rows) == [False, True]
    assert b.one("user-active").is_selected()
    b.shot("user")

    # Revoke one session: its refresh token stops working, the other lives.
    before = {s["id"] for s in sessions_of(gw, target["id"])}
    row = next(e for e in b.all("session-row") if "Firefox-0" in e.text)
    sid = row.get_attribute("data-id")
    row.find_element(By.CSS_SELECTOR, '[data-test="session-revoke"]').click()
    b.wait_rows("session-row", lambda r: len(r) == 1 and "Firefox-1" in r[0], "one session left")
    assert {s["id"] for s in sessions_of(gw, target["id"])} == before - {sid}
    r0 = requests.post(gw.url + "/auth/refresh",
                       headers={"Authorization": "Bearer " + pairs[0]["refresh_token"]}, timeout=10)
    assert r0.status_code == 401

    # Roles: comma-separated, saved as a list.
    roles = b.one("user-roles")
    roles.clear()
    roles.send_keys(" editor , billing,,")
    b.one("user-save").click()
    b.wait(lambda: b.status_text() == "Saved %s." % target["username"], "saved")
    assert admin_api(gw, "GET", "/users/" + target["id"]).json()["roles"] == ["editor", "billing"]
    assert b.one("user-roles").get_attribute("value") == "editor, billing"
    # A flag's name is no role: the API's 422 is shown, nothing changes.
    b.expect_refusal("/auth/admin/users/" + target["id"], 422)
    roles.clear()
    roles.send_keys("editor, staff")
    b.one("user-save").click()
    b.wait_error("roles: 'staff' and 'superuser' are flags")
    assert "(422)" in b.error_text()
    assert admin_api(gw, "GET", "/users/" + target["id"]).json()["roles"] == ["editor", "billing"]

    # Deactivate: the user's sessions end (the list empties) and their tokens die.
    roles.clear()
    roles.send_keys("editor, billing")
    b.one("user-active").click()
    b.one("user-save").click()
    b.wait(lambda: b.status_text() == "Saved %s." % target["username"], "saved again")
    assert b.error_text() == ""
    b.wait_rows("session-row", lambda r: r == [], "no session")
    u = admin_api(gw, "GET", "/users/" + target["id"]).json()
    assert u["is_active"] is False and u["roles"] == ["editor", "billing"]
    assert sessions_of(gw, target["id"]) == []
    r1 = requests.post(gw.url + "/auth/refresh",
                       headers={"Authorization": "Bearer " + pairs[1]["refresh_token"]}, timeout=10)
    assert r1.status_code == 401

    # Delete: the first click arms the button, the second deletes.
    delete = b.one("user-delete")
    delete.click()
    b.wait(lambda: delete.get_attribute("data-state") == "confirm", "the confirm step")
    assert "Really delete " + target["username"] in delete.text
    assert admin_api(gw, "GET", "/users/" + target["id"]).status_code == 200  # not yet
    b.d.find_element(By.ID, "user-delete-cancel").click()
    assert delete.get_attribute("data-state") is None
    delete.click()
    delete.click()
    b.wait(lambda: b.status_text() == "Deleted %s." % target["username"], "deleted")
    b.wait_rows("user-row", lambda r: not any(target["username"] in t for t in r),
                "the list without the user")
    assert admin_api(gw, "GET", "/users/" + target["id"]).status_code == 404
    register(gw, target["username"], target["email"])  # the name and email are free again


def test_non_admin_refusal_is_shown(gateway, redis_server, browser):
    gw = console_gw(gateway, redis_server)
    b = browser
    plain = register(gw)
    expect_visitor(b, gw)
    b.expect_refusal("/auth/admin/users", 403)
    b.open(gw)
    b.sign_in(plain["username"])
    b.wait_signed_in()
    b.wait_error("Not enough permissions")
    assert "(403)" in b.error_text()
    assert not any(e.is_displayed() for e in b.all("user-row"))
    b.shot("refused")
    # The audit log too.
    b.expect_refusal("/auth/admin/audit", 403)
    b.one("nav-audit").click()
    b.wait(lambda: b.d.find_element(By.ID, "screen-audit").get_attribute("data-state") == "failed"
           and "Not enough permissions" in b.error_text(), "the audit refusal")
    assert not any(e.is_displayed() for e in b.all("audit-row"))
    assert not b.d.find_element(By.ID, "audit-empty").is_displayed()  # no "nothing matches"


def test_staff_reads_but_cannot_write(gateway, redis_server, browser):
    gw = console_gw(gateway, redis_server)
    b = browser
    target = register(gw)
    staff = make_admin(gw, redis_server, is_staff=True)
    expect_visitor(b, gw)
    b.open(gw)
    b.sign_in(staff["username"])
    b.wait_signed_in()
    b.wait_rows("user-row", lambda r: len(r) == 2, "the list")
    open_user(b, gw, target)
    b.expect_refusal("/auth/admin/users/" + target["id"], 403)
    b.one("user-roles").send_keys("x")
    b.one("user-save").click()
    b.wait_error("Not enough permissions")
    assert admin_api(gw, "GET", "/users/" + target["id"]).json()["roles"] == []


# ---------------------------------------------------------------- text from the API stays text

def test_markup_from_the_api_shows_as_text(gateway, redis_server, browser):
    gw = console_gw(gateway, redis_server)
    b = browser
    victim = register(gw)
    ua = "<script>alert(3)</script>" + XSS
    login(gw, victim["username"], ua=ua)
    # A username written by something else than register (whose rules would refuse it).
    redis_cmd(redis_server.port, "HSET", user_key(victim["id"]), "username", XSS)
    role = "<img/src=x/onerror=alert(2)>"  # visible ASCII, no comma: a valid role
    r = admin_api(gw, "PATCH", "/users/" + victim["id"], json={"roles": [role]})
    assert r.status_code == 200, r.text
    sign_in_as_admin(b, gw, redis_server)

    rows = b.wait_rows("user-row", lambda r: any(XSS in t for t in r), "the row, as text")
    row = next(e for e in b.all("user-row") if XSS in e.text)
    assert role in row.text
    assert row.find_elements(By.TAG_NAME, "img") == []
    assert b.d.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    row.find_element(By.LINK_TEXT, XSS).click()
    b.wait(lambda: b.d.find_element(By.ID, "user-h").text == XSS, "the heading, as text")
    srow = b.wait_rows("session-row", lambda r: len(r) == 1, "the session")[0]
    assert ua in srow
    assert b.one("user-roles").get_attribute("value") == role
    assert b.d.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert rows


# ---------------------------------------------------------------- audit

def test_audit_log_newest_first_and_filters(gateway, redis_server, browser):
    gw = console_gw(gateway, redis_server)
    b = browser
    target = register(gw)
    login(gw, target["username"])
    # A failed login keeps what was typed: markup from anyone on the internet.
    r = requests.post(gw.url + "/auth/login", json={"username_or_email": XSS, "password": "x" * 12},
                      timeout=10)
    assert r.status_code == 401
    r = requests.post(gw.url + "/auth/audit", headers=MH, timeout=10,
                      json={"event": "app_export", "sub": target["id"], "detail": {"note": XSS}})
    assert r.status_code == 202, r.text
    sign_in_as_admin(b, gw, redis_server, "#/audit")

    rows = b.wait_rows("audit-row", lambda r: len(r) == 6, "the audit log")
    events = b.wait(lambda: [e.find_element(By.CLASS_NAME, "event").text
                             for e in b.all("audit-row")], "the event names")
    want = requests.get(gw.url + "/auth/admin/audit", headers=MH, timeout=10).json()["events"]
    assert events == [e["event"] for e in want]  # the API's order, newest first
    # newest first: the admin's sign-in in the browser, back to the target's registration
    assert events == ["login_ok", "register", "app_export", "login_failed", "login_ok", "register"]
    assert any(XSS in t for t in rows)
    assert b.d.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    b.shot("audit")

    f = b.one("audit-filter-event")
    f.send_keys("login_failed" + Keys.ENTER)
    rows = b.wait_rows("audit-row", lambda r: len(r) == 1 and "login_failed" in r[0],
                       "only the failed login")
    assert XSS in rows[0]
    f.clear()
    f.send_keys("register" + Keys.ENTER)
    rows = b.wait_rows("audit-row", lambda r: len(r) == 2 and all("register" in t for t in r),
                       "the two registrations")

    # Pages of 2, older and back to the newest.
    b.open(gw, "#/audit?limit=2")
    first = b.wait_rows("audit-row", lambda r: len(r) == 2 and "login_ok" in r[0], "page 1")
    older = b.d.find_element(By.ID, "audit-older")
    assert not b.d.find_element(By.ID, "audit-newest").is_enabled()
    older.click()
    second = b.wait_rows("audit-row", lambda r: len(r) == 2 and r != first, "page 2")
    assert [t.split("\n")[0] for t in second] <= [t.split("\n")[0] for t in first]  # older
    assert b.wait(lambda: [e.get_attribute("data-id") for e in b.all("audit-row")],
                  "the rows' ids") == [e["id"] for e in want[2:4]]
    b.d.find_element(By.ID, "audit-newest").click()
    b.wait_rows("audit-row", lambda r: r == first, "page 1 again")

    # By user: the target's entries only.
    b.open(gw, "#/audit?user=" + target["id"])
    rows = b.wait_rows("audit-row", lambda r: len(r) >= 2, "the target's entries")
    assert all(target["id"] in t for t in rows)
    assert set(b.wait(lambda: [e.find_element(By.CLASS_NAME, "event").text
                               for e in b.all("audit-row")], "the event names")) >= \
        {"app_export", "login_ok"}
    b.one("nav-users").click()
    b.wait_rows("user-row", lambda r: len(r) == 2, "back to the users")
