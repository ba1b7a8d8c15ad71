"""Request framing and path refusals (CONTRACT.md sections 4 and 9, SECURITY-BASELINE.md).

Every refusal is checked the same way: the status, a JSON error body with
Content-Type application/json, nothing forwarded (the upstream's record stays empty),
and, for framing errors, `Connection: close` and a closed connection. Refusals of a
well-framed request (paths, 413) may keep the connection open, but then the next
request on it must be answered correctly (no desync)."""

import urllib.parse

import pytest

from conftest import ConnectionClosed, RawConn, assert_json_error, pattern, simple_get

CONFIG = {"max-header-size": 4096, "max-headers": 16, "max-body-size": 1000,
          "client-header-timeout": 3}
H = b"Host: gw.test\r\n"


def post(headers, body=b"", path=b"/echo"):
    return b"POST " + path + b" HTTP/1.1\r\n" + H + headers + b"\r\n" + body


def check_refused(gw, upstream, data, status, must_close=True, allow_incomplete=False):
    """Sends <data>; asserts the refusal as described in the module docstring."""
    c = RawConn(gw.port)
    try:
        c.send(data)
        try:
            resp = c.read_response()
        except Exception as e:  # noqa: BLE001 - report what happened instead
            raise AssertionError("no response to refused request: %r" % e)
        assert_json_error(resp, status)
        closed = c.closed(3)
        if must_close:
            assert "close" in resp.header("connection", "").lower(), \
                "no Connection: close on a framing refusal: %r" % resp
            assert closed, "connection left open after a framing refusal"
        elif not closed:
            c.send(simple_get("/echo/after-refusal"))
            nxt = c.read_response()
            assert nxt.status == 200 and nxt.json()["target"] == "/echo/after-refusal", nxt
    finally:
        c.close()
    recs = upstream.requests()
    recs = [r for r in recs if r["target"] != "/echo/after-refusal"]
    if allow_incomplete:  # a streamed body may be cut off upstream, never completed
        recs = [r for r in recs if r["complete"]]
    assert recs == [], "a refused request reached the upstream: %r" % recs
    return resp


# ---------------------------------------------------------------- framing: 400 and close

FRAMING_400 = {
    "cl_and_te": post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
    "te_and_cl": post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"),
    "cl_differing": post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
    "cl_list_differing": post(b"Content-Length: 5, 6\r\n", b"hello!"),
    "cl_plus": post(b"Content-Length: +5\r\n", b"hello"),
    "cl_hex": post(b"Content-Length: 0x5\r\n", b"hello"),
    "cl_list_same": post(b"Content-Length: 5, 5\r\n", b"hello"),
    "cl_negative": post(b"Content-Length: -5\r\n", b"hello"),
    "cl_trailing_garbage": post(b"Content-Length: 5a\r\n", b"hello"),
    "cl_inner_space": post(b"Content-Length: 5 5\r\n", b"hello"),
    "cl_empty": post(b"Content-Length: \r\n", b"hello"),
    "cl_overflow": post(b"Content-Length: 99999999999999999999999\r\n", b"hello"),
    "te_chunked_twice_fields": post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                    b"0\r\n\r\n"),
    "te_chunked_twice_list": post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
    "obs_fold": simple_get(extra="X-A: one\r\n  two\r\n"),
    "obs_fold_tab": simple_get(extra="X-A: one\r\n\ttwo\r\n"),
    "bare_lf_everywhere": b"GET /echo HTTP/1.1\nHost: gw.test\n\n",
    "bare_lf_one_line": b"GET /echo HTTP/1.1\r\nHost: gw.test\nX-A: b\r\n\r\n",
    "bare_lf_request_line": b"GET /echo HTTP/1.1\nHost: gw.test\r\n\r\n",
    "bare_cr_in_value": simple_get(extra="X-A: a\rb\r\n"),
    "bare_cr_line_end": simple_get(extra="X-A: a\rX-B: b\r\n"),
    "space_before_colon": simple_get(extra="X-A : b\r\n"),
    "tab_before_colon": simple_get(extra="X-A\t: b\r\n"),
    "space_before_colon_cl": post(b"Content-Length : 5\r\n", b"hello"),
    "nul_in_value": simple_get(extra="X-A: a\x00b\r\n"),
    "nul_in_name": simple_get(extra="X-\x00A: b\r\n"),
    "ctl_in_name": simple_get(extra="X-\x01A: b\r\n"),
    "ctl_in_value": simple_get(extra="X-A: a\x01b\r\n"),
    "del_in_value": simple_get(extra="X-A: a\x7fb\r\n"),
    "empty_header_name": simple_get(extra=": b\r\n"),
    "header_without_colon": simple_get(extra="X-A\r\n"),
    "non_token_in_name": simple_get(extra="X(A): b\r\n"),
    "http_2_0": b"GET /echo HTTP/2.0\r\n" + H + b"\r\n",
    "http_lowercase": b"GET /echo http/1.1\r\n" + H + b"\r\n",
    "request_line_double_space": b"GET  /echo HTTP/1.1\r\n" + H + b"\r\n",
    "request_line_extra_token": b"GET /echo HTTP/1.1 x\r\n" + H + b"\r\n",
    "missing_host": b"GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n",
    "two_hosts": b"GET /echo HTTP/1.1\r\nHost: gw.test\r\nHost: other.test\r\n\r\n",
    "two_identical_hosts": b"GET /echo HTTP/1.1\r\nHost: gw.test\r\nHost: gw.test\r\n\r\n",
    "host_with_space": b"GET /echo HTTP/1.1\r\nHost: gw test\r\n\r\n",
    "host_with_slash": b"GET /echo HTTP/1.1\r\nHost: gw.test/x\r\n\r\n",
    "three_leading_empty_lines": b"\r\n\r\n\r\nGET /echo HTTP/1.1\r\n" + H + b"\r\n",  # two are skipped
    # prefix-matching parsers (libhttp-parser 2.9) read these names as Transfer-Encoding
    "te_lookalike_with_length": b"POST /echo HTTP/1.1\r\n" + H
    + b"Content-Length: 6\r\nTransfer-Encoding#: chunked\r\n\r\n0\r\n\r\nX",
    "te_lookalike_alone": b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding-Hint: chunked\r\n\r\n",
    "te_lookalike_of_21_bytes": b"POST /echo HTTP/1.1\r\n" + H  # as long as Sec-WebSocket-Version
    + b"Content-Length: 6\r\nTransfer-EncodingCOPY: chunked\r\n\r\n0\r\n\r\nX",
}


@pytest.mark.parametrize("name", sorted(FRAMING_400))
def test_framing_refused_400_and_closed(upstream, gateway, name):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, FRAMING_400[name], 400)


TE_REFUSALS = {
    "te_gzip": (b"Transfer-Encoding: gzip\r\n", (501,)),
    "te_identity": (b"Transfer-Encoding: identity\r\n", (501,)),
    "te_gzip_then_chunked": (b"Transfer-Encoding: gzip, chunked\r\n", (501,)),
    "te_chunked_then_gzip": (b"Transfer-Encoding: chunked, gzip\r\n", (400, 501)),  # not last: 400
    "te_two_fields_gzip_chunked": (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", (400, 501)),
}


@pytest.mark.parametrize("name", sorted(TE_REFUSALS))
def test_transfer_coding_refused_and_closed(upstream, gateway, name):
    gw = gateway(CONFIG)
    headers, status = TE_REFUSALS[name]
    check_refused(gw, upstream, post(headers, b"0\r\n\r\n"), status)


CHUNK_400 = {
    "size_not_hex": b"zz\r\nhello\r\n0\r\n\r\n",
    "size_trailing_space": b"5 \r\nhello\r\n0\r\n\r\n",
    "size_leading_space": b" 5\r\nhello\r\n0\r\n\r\n",
    "bare_semicolon": b"5;\r\nhello\r\n0\r\n\r\n",
    "size_0x": b"0x5\r\nhello\r\n0\r\n\r\n",
    "size_negative": b"-5\r\nhello\r\n0\r\n\r\n",
    "size_overflow": b"fffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "size_empty": b"\r\nhello\r\n0\r\n\r\n",
    "data_without_crlf": b"5\r\nhelloXX0\r\n\r\n",
    "size_bare_lf": b"5\nhello\r\n0\r\n\r\n",
    # chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) and nothing else
    "ext_bws_then_crlf": b"5 ;a \r\nhello\r\n0\r\n\r\n",
    "ext_bare_semicolon_bws": b"5 ; \r\nhello\r\n0\r\n\r\n",
    "ext_empty_name": b"5; =b\r\nhello\r\n0\r\n\r\n",
    "ext_empty_value": b"5;a = \r\nhello\r\n0\r\n\r\n",
    "ext_trailing_garbage": b'5;a="b" c\r\nhello\r\n0\r\n\r\n',
    "ext_two_values": b"5;a=b=c\r\nhello\r\n0\r\n\r\n",
    "ext_space_in_token_value": b"5;a=b c\r\nhello\r\n0\r\n\r\n",
    "ext_bare_cr_in_quotes": b'5;a="b\rc"\r\nhello\r\n0\r\n\r\n',
    "ext_bare_lf_in_quotes": b'5;a="b\nc"\r\nhello\r\n0\r\n\r\n',
    "ext_unterminated_quote": b'5;a="b\r\nhello\r\n0\r\n\r\n',
    "ext_ctl_after_backslash": b'5;a="\\\x01"\r\nhello\r\n0\r\n\r\n',
    "ext_on_last_chunk_bad": b"5\r\nhello\r\n0;\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(CHUNK_400))
def test_bad_chunk_refused_400_and_closed(upstream, gateway, name):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, post(b"Transfer-Encoding: chunked\r\n", CHUNK_400[name]), 400,
                  allow_incomplete=True)


def test_bad_chunk_after_good_chunks(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n2 x\r\nde\r\n0\r\n\r\n"),
                  400, allow_incomplete=True)


def test_http09_request_refused_or_closed(upstream, gateway):
    gw = gateway(CONFIG)
    with RawConn(gw.port) as c:
        c.send(b"GET /\r\n")
        if not c.closed(6):
            resp = c.read_response(timeout=1)
            assert_json_error(resp, 400)
            assert c.closed(3)
    assert upstream.requests() == []


# ---------------------------------------------------------------- limits

def test_oversized_head_431(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, simple_get(extra="X-Big: " + "a" * 8000 + "\r\n"), 431)


def test_oversized_head_many_lines_431(upstream, gateway):
    gw = gateway(CONFIG)
    extra = "".join("X-L%d: %s\r\n" % (i, "b" * 400) for i in range(14))  # ~5.9 KB, 15 fields
    check_refused(gw, upstream, simple_get(extra=extra), 431)


def test_too_many_headers_431(upstream, gateway):
    gw = gateway(CONFIG)
    extra = "".join("X-H%d: v\r\n" % i for i in range(40))
    check_refused(gw, upstream, simple_get(extra=extra), 431)


def test_oversized_request_line_refused(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, simple_get("/echo?" + "q" * 8000), (414, 431))


def test_body_over_max_body_size_content_length_413(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, post(b"Content-Length: 5000\r\n", b"x" * 5000), 413, must_close=False)


def test_body_over_max_body_size_chunked_413(upstream, gateway):
    gw = gateway(CONFIG)
    body = b"".join(b"200\r\n" + b"y" * 512 + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    check_refused(gw, upstream, post(b"Transfer-Encoding: chunked\r\n", body), 413,
                  must_close=False, allow_incomplete=True)


def test_body_at_max_body_size_passes(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(post(b"Content-Length: 1000\r\n", b"z" * 1000))
    r = c.read_response()
    assert r.status == 200 and r.json()["body_len"] == 1000


# ---------------------------------------------------------------- accepted variants (controls)

# RFC 9112 s.7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
# chunk-ext-val = token / quoted-string (with quoted-pair). Valid, so accepted; never forwarded.
CHUNK_EXT_OK = [
    b'5 ; name="va lue"',
    b"5\t;\tname\t=\ttoken",
    b"5 ;a ;b= c; d =\"e\\\"f\\\\\";g",
    b'5;q="semi;colon, comma \\\t tab"',
    b"5;only-a-name",
    b'5;a=""',
    b'5;a="\x80\xff obs-text"',
    b"5  ;  a  =  b  ;  c",
]


@pytest.mark.parametrize("ext", CHUNK_EXT_OK, ids=range(len(CHUNK_EXT_OK)))
def test_valid_chunk_extensions_accepted_and_dropped(upstream, gateway, ext):
    gw = gateway(CONFIG)
    c = gw.raw()
    last = b"0" + ext[1:]  # the same extensions on the last chunk
    c.send(post(b"Transfer-Encoding: chunked\r\n", ext + b"\r\nhello\r\n" + last + b"\r\n\r\n"))
    r = c.read_response()
    assert r.status == 200, r
    e = r.json()
    assert e["body_len"] == 5 and not e["chunk_extensions"], e
    c.send(simple_get("/echo/next"))
    assert c.read_response().json()["target"] == "/echo/next"


@pytest.mark.parametrize("ext", CHUNK_EXT_OK, ids=range(len(CHUNK_EXT_OK)))
def test_valid_chunk_extensions_in_responses_accepted(upstream, gateway, ext):
    """The response decoder has the same grammar: the body arrives whole, without them."""
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(simple_get("/bytes?n=70000&chunked=1&ext=" + urllib.parse.quote(ext[1:], safe="")))
    r = c.read_response()
    assert r.status == 200, r
    assert r.body == pattern(0, 70000)
    assert ext[2:].strip() not in r.raw_head


@pytest.mark.parametrize("ext", [b" ;", b";a ", b'; a="b" c', b';a="b\rc"'])
def test_invalid_chunk_extension_in_response_cuts_it(upstream, gateway, ext):
    """SECURITY-BASELINE 9: a malformed response body is never relayed as complete."""
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(simple_get("/bytes?n=10&chunked=1&ext=" + urllib.parse.quote(ext, safe="")))
    with pytest.raises(ConnectionClosed):
        c.read_response()

def test_te_chunked_case_and_ows_accepted(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    for te in (b"Chunked", b"  chunked  ", b"CHUNKED"):
        c.send(post(b"Transfer-Encoding: " + te + b"\r\n", b"5\r\nhello\r\n0\r\n\r\n"))
        r = c.read_response()
        assert r.status == 200 and r.json()["body_len"] == 5, (te, r)


def test_identical_repeated_content_length_folded_or_refused(upstream, gateway):
    """Baseline 3: identical repeats may be folded into one value or rejected."""
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"))
    r = c.read_response()
    if r.status == 200:
        e = r.json()
        assert e["body_len"] == 5
        assert [k.lower() for k, _ in e["headers"]].count("content-length") == 1
    else:
        assert_json_error(r, 400)
        assert c.closed(3)
        assert upstream.requests() == []


def test_http10_without_host_accepted(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"GET /echo/ten HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/ten"


# ---------------------------------------------------------------- request-target forms

def test_absolute_form_with_matching_host_forwarded_as_origin_form(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"GET http://gw.test/echo/abs?x=1 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    r = c.read_response()
    assert r.status == 200, r
    e = r.json()
    assert e["target"] == "/echo/abs?x=1"
    hosts = [v for k, v in e["headers"] if k.lower() == "host"]
    assert hosts == ["gw.test"]


def test_absolute_form_with_other_host_refused(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, b"GET http://evil.test/echo HTTP/1.1\r\nHost: gw.test\r\n\r\n", 400,
                  must_close=False)


def test_authority_form_refused(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, b"CONNECT gw.test:443 HTTP/1.1\r\nHost: gw.test:443\r\n\r\n", 400,
                  must_close=False)


# ---------------------------------------------------------------- path normalisation

NORMALISED = {
    "/echo/a/./b/../c": "/echo/a/c",
    "/echo/%61bc": "/echo/abc",
    "//echo//x": "/echo/x",
    "/echo/%7Euser/%2D%2e%5F": "/echo/~user/-._",
    "/echo/a/b/..": "/echo/a/",
    "/echo/./x/.": "/echo/x/",
}


@pytest.mark.parametrize("raw,expected", sorted(NORMALISED.items()))
def test_path_normalised_before_forwarding(upstream, gateway, raw, expected):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(simple_get(raw))
    r = c.read_response()
    assert r.status == 200, r
    assert r.json()["target"] == expected
    assert [x["target"] for x in upstream.requests()] == [expected]


def test_query_forwarded_byte_for_byte(upstream, gateway):
    gw = gateway(CONFIG)
    query = "?a=%2F..%2f&b=/../x//y&c=a;b&d=%41%2e&e=&&f=%7E?g=h"
    c = gw.raw()
    c.send(simple_get("/echo/./q" + query))
    r = c.read_response()
    assert r.status == 200, r
    assert r.json()["target"] == "/echo/q" + query


def test_simple_paths_forwarded_unchanged(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    for p in ("/", "/echo", "/echo/", "/echo/a-b_c~d.e/f", "/echo/A/B"):
        c.send(simple_get(p))
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == p, (p, r)


PATH_400 = {
    "encoded_slash_lower": "/a%2fb",
    "encoded_slash_upper": "/a%2Fb",
    "encoded_backslash": "/a%5cb",
    "raw_backslash": "/a\\b",
    "encoded_nul": "/a%00b",
    "encoded_ctl": "/a%01b",
    "dotdot_at_root": "/..",
    "dotdot_above_root": "/a/../..",
    "dotdot_above_root_encoded": "/a/%2e%2e/%2E%2E",
    "semicolon": "/a;b",
    "semicolon_segment_end": "/echo;jsessionid=1/x",
    "invalid_escape": "/a%zzb",
    "truncated_escape": "/a%2",
    "double_encoded_slash": "/a%252fb",
    "double_encoded_dot": "/a/%252e%252e/b",
    "hash": "/a#b",
    "raw_high_byte": "/a\x80b",
    "raw_quote": '/a"b',
    "raw_lt": "/a<b",
    "raw_brace": "/a{b",
    "raw_pipe": "/a|b",
    "raw_caret": "/a^b",
    "raw_backtick": "/a`b",
    "segment_ends_with_dot": "/echo./x",
    "segment_ends_with_dots": "/api../x",
    "no_leading_slash": "echo",
}


@pytest.mark.parametrize("name", sorted(PATH_400))
def test_bad_path_refused_400(upstream, gateway, name):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, simple_get(PATH_400[name]), 400, must_close=False)


# ---------------------------------------------------------------- escapes that must stay escaped

KEPT_ENCODED = {
    "/echo/a%3Fb": "/echo/a%3fb",      # an encoded '?' is not a query
    "/echo/a%23b": "/echo/a%23b",      # nor is '#' a fragment
    "/echo/a%20b": "/echo/a%20b",      # nor space a separator
    "/echo/a%25b": "/echo/a%25b",      # '%' stays '%25'
    "/echo/a%2Bb": "/echo/a%2bb",      # reserved sub-delims are not decoded
    "/echo/a%40b": "/echo/a%40b",
}


@pytest.mark.parametrize("raw", sorted(KEPT_ENCODED))
def test_reserved_escapes_forwarded_still_encoded(upstream, gateway, raw):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(simple_get(raw))
    r = c.read_response()
    assert r.status == 200, r
    got = r.json()["target"]
    assert got.lower() == KEPT_ENCODED[raw], got
    assert [x["target"] for x in upstream.requests()] == [got]


def test_encoded_dots_resolved(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    for raw, want in (("/echo/a%2eb", "/echo/a.b"), ("/x/%2e%2e/echo/y", "/echo/y"),
                      ("/echo/../echo/z", "/echo/z")):
        c.send(simple_get(raw))
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == want, (raw, r)


def test_utf8_escapes_kept_encoded_or_refused(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(simple_get("/echo/caf%C3%A9"))
    r = c.read_response()
    if r.status == 200:
        assert r.json()["target"].lower() == "/echo/caf%c3%a9"
    else:
        assert_json_error(r, 400)


def test_overlong_utf8_escape_refused(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, simple_get("/echo/%C0%AF"), 400, must_close=False)


def test_asterisk_form_only_for_options(upstream, gateway):
    gw = gateway(CONFIG)
    check_refused(gw, upstream, simple_get("*"), 400, must_close=False)


# ---------------------------------------------------------------- methods never forwarded

ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
NEVER_FORWARDED = {
    "trace": b"TRACE /echo/t HTTP/1.1\r\n" + H + b"Cookie: access_token=secret\r\n\r\n",
    "trace_root": b"TRACE / HTTP/1.1\r\n" + H + b"\r\n",
    "connect_origin_form": b"CONNECT /echo/c HTTP/1.1\r\n" + H + b"\r\n",
    "connect_origin_form_10": b"CONNECT /echo/c HTTP/1.0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(NEVER_FORWARDED))
def test_trace_and_connect_refused_405_with_allow(upstream, gateway, name):
    """TRACE would echo the credentials back; CONNECT in origin-form is no path to
    judge. Both get 405 JSON with Allow and never reach the upstream; the connection
    stays usable (no body follows)."""
    gw = gateway(CONFIG)
    must_close = name.endswith("_10")  # an HTTP/1.0 client without keep-alive
    resp = check_refused(gw, upstream, NEVER_FORWARDED[name], 405, must_close=must_close)
    assert resp.header("allow") == ALLOW, resp
    assert b"secret" not in resp.body


def test_trace_with_body_refused_and_closed(upstream, gateway):
    gw = gateway(CONFIG)
    data = b"TRACE /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello"
    resp = check_refused(gw, upstream, data, 405)
    assert resp.header("allow") == ALLOW, resp
