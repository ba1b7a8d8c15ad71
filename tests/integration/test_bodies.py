"""Request and response bodies stream through the gateway intact (CONTRACT.md section 9).

Uploads and downloads use the position-stamped pattern of upstream.py, so a dropped,
duplicated or reordered block changes the sha256. Nothing here builds a large body in
memory: uploads are generators, downloads are read with stream=True."""

import hashlib

import pytest
import requests

from conftest import iter_pattern, pattern, pattern_sha256

KIB, MIB = 1024, 1024 * 1024
CONFIG = {"max-body-size": 512 * MIB, "upstream-timeout": 120, "client-timeout": 60}

SIZES = [
    pytest.param(0, id="0B"),
    pytest.param(KIB, id="1KiB"),
    pytest.param(5 * MIB, id="5MiB"),
    pytest.param(200 * MIB, id="200MiB", marks=pytest.mark.slow),
]


class SizedStream:
    """An iterable body with a known length: requests sends it with Content-Length."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter_pattern(self.n)


def check_upload_record(upstream, n, path):
    recs = [r for r in upstream.requests() if r["target"].startswith(path)]
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec["complete"]
    assert rec["body_len"] == n
    assert rec["body_sha256"] == pattern_sha256(n)
    framing = [k.lower() for k, _ in rec["headers"] if k.lower() in ("content-length", "transfer-encoding")]
    assert len(framing) <= 1, "upstream got more than one framing header: %r" % rec["headers"]
    return rec


@pytest.mark.parametrize("n", SIZES)
def test_upload_with_content_length(upstream, gateway, n):
    gw = gateway(CONFIG)
    with requests.Session() as s:
        r = s.post(gw.url + "/echo/upload-cl", data=SizedStream(n) if n else b"", timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["body_len"] == n
    assert r.json()["body_sha256"] == pattern_sha256(n)
    check_upload_record(upstream, n, "/echo/upload-cl")


@pytest.mark.parametrize("n", SIZES)
def test_upload_chunked(upstream, gateway, n):
    gw = gateway(CONFIG)

    def gen():  # a generator has no length: requests sends Transfer-Encoding: chunked
        yield from iter_pattern(n)

    with requests.Session() as s:
        r = s.post(gw.url + "/echo/upload-chunked", data=gen(), timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["body_len"] == n
    assert r.json()["body_sha256"] == pattern_sha256(n)
    check_upload_record(upstream, n, "/echo/upload-chunked")


def download(gw, query):
    h = hashlib.sha256()
    total = 0
    with requests.Session() as s:
        with s.get(gw.url + "/bytes?" + query, stream=True, timeout=120) as r:
            assert r.status_code == 200
            for block in r.iter_content(chunk_size=MIB):
                h.update(block)
                total += len(block)
            headers = r.headers
    return total, h.hexdigest(), headers


@pytest.mark.parametrize("n", SIZES)
def test_download_content_length(upstream, gateway, n):
    gw = gateway(CONFIG)
    total, digest, headers = download(gw, "n=%d" % n)
    assert (total, digest) == (n, pattern_sha256(n))
    assert headers.get("Content-Length") == str(n)


@pytest.mark.parametrize("n", SIZES)
def test_download_chunked(upstream, gateway, n):
    gw = gateway(CONFIG)
    total, digest, _ = download(gw, "n=%d&chunked=1" % n)
    assert (total, digest) == (n, pattern_sha256(n))


def test_raw_chunked_upload_odd_chunks_and_extensions(upstream, gateway):
    """Chunks of 1, 2, 0x10 bytes with extensions: reassembled, extensions not forwarded."""
    gw = gateway(CONFIG)
    body = pattern(0, 1 + 2 + 16 + 4096)
    parts, off = [], 0
    for size, ext in ((1, ""), (2, ";a=b"), (16, ";x"), (4096, ';q="s"')):
        parts.append(b"%x%s\r\n" % (size, ext.encode()) + body[off:off + size] + b"\r\n")
        off += size
    c = gw.raw()
    c.send(b"POST /echo/odd HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"".join(parts) + b"0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200, r
    e = r.json()
    assert e["body_len"] == len(body)
    assert e["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert not e["chunk_extensions"], "chunk extensions were forwarded raw"


def test_upload_and_download_on_one_connection(upstream, gateway):
    """Bodies in both directions leave a keep-alive connection usable."""
    gw = gateway(CONFIG)
    c = gw.raw()
    body = pattern(0, 100000)
    c.send(b"PUT /echo/a HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    r = c.read_response()
    assert r.status == 200 and r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    c.send(b"GET /bytes?n=70000&chunked=1 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == pattern(0, 70000)
    c.send(b"GET /bytes?n=123 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == pattern(0, 123)
