"""The download cache under faults: a hand-written HTTP server on 127.0.0.1.

``http.server`` cannot send what broken or hostile servers send, so this one
writes HTTP/1.1 on the socket itself: a real ``416 Range Not Satisfiable``, a
chunked body cut in the middle of a chunk, a garbage status line, a body
trickled a few bytes at a time.  Every connection has a socket timeout, every
behaviour ends on its own within seconds, and the server is stopped in
teardown.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tlcourse import assets
from tlcourse.assets import Asset, AssetError, Url, sha256

QUIET = dict(progress=False, log=lambda *_: None)
BODY = hashlib.sha256(b"seed").digest() * 8192            # 256 KiB, deterministic


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------
def _head(status: str, **headers) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def static(body: bytes, pieces: int = 1, pause: float = 0.0):
    """The file with Range support (206, and a real 416 past the end), sent in
    ``pieces`` with ``pause`` seconds between them."""
    def respond(conn, start):
        if start >= len(body) > 0 and start:
            conn.sendall(_head("416 Range Not Satisfiable", Content_Range=f"bytes */{len(body)}",
                               Content_Length=0, Connection="close"))
            return
        if start:
            conn.sendall(_head("206 Partial Content", Content_Length=len(body) - start,
                               Content_Range=f"bytes {start}-{len(body) - 1}/{len(body)}",
                               Connection="close"))
        else:
            conn.sendall(_head("200 OK", Content_Length=len(body), Connection="close"))
        rest = body[start:]
        step = -(-len(rest) // pieces)
        for i in range(0, len(rest), step):
            conn.sendall(rest[i:i + step])
            time.sleep(pause)
    return respond


def chunked_cut(body: bytes):
    """A chunked response whose one chunk stops halfway: the connection closes mid-chunk."""
    def respond(conn, start):
        conn.sendall(_head("200 OK", Transfer_Encoding="chunked", Connection="close"))
        conn.sendall(f"{len(body):x}\r\n".encode() + body[: len(body) // 2])
    return respond


def garbage_status(conn, start):
    conn.sendall(b"GARBAGE FROM A BROKEN PROXY\r\n\r\n")


def trickle(body: bytes, interval: float = 0.1, max_s: float = 8.0):
    """Headers at once, then one byte every ``interval`` s for at most ``max_s`` s."""
    def respond(conn, start):
        conn.sendall(_head("200 OK", Content_Length=len(body), Connection="close"))
        end = time.monotonic() + max_s
        for i in range(len(body)):
            if time.monotonic() > end:
                return
            conn.sendall(body[i:i + 1])
            time.sleep(interval)
    return respond


class RawServer:
    def __init__(self):
        self.routes: dict = {}
        self.requests: list[tuple[str, str | None]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _handle(self, conn):
        with conn:
            conn.settimeout(10)
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split()[1]
                rng = next((ln.split(":", 1)[1].strip() for ln in lines[1:]
                            if ln.lower().startswith("range:")), None)
                self.requests.append((path, rng))
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                respond = self.routes.get(path)
                if respond is None:
                    conn.sendall(_head("404 Not Found", Content_Length=0, Connection="close"))
                else:
                    respond(conn, start)
            except OSError:        # the client gave up on us: that is what some tests want
                pass

    def close(self):
        self._stop.set()
        self._accept.join(5)
        self._listener.close()
        for t in self._threads:
            t.join(10)


@pytest.fixture
def server():
    s = RawServer()
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLCOURSE_URL_TIMEOUT", "5")
    return tmp_path / "cache"


def register(monkeypatch, urls, body: bytes = BODY, size: int | None = -1,
             name: str = "fault_file") -> Asset:
    """A test asset fetched from ``urls``, with the sha256 of ``body``."""
    asset = Asset(name=name, filename=f"{name}.bin", hash=sha256(hashlib.sha256(body).hexdigest()),
                  size=len(body) if size == -1 else size, location="downloads",
                  sources=tuple(Url(u) for u in urls))
    monkeypatch.setitem(assets.REGISTRY, name, asset)
    return asset


def part_of(asset: Asset, cache) -> os.PathLike:
    return cache / "partial" / (asset.filename + ".part")


# ---------------------------------------------------------------------------
# 1. a complete .part left by a fetch killed before the rename
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("size_known", [True, False])
def test_complete_part_of_a_killed_fetch_is_verified_not_refetched_forever(
        cache, server, monkeypatch, size_known):
    server.routes["/f"] = static(BODY)
    asset = register(monkeypatch, [server.url + "/f"], size=len(BODY) if size_known else None)
    part = part_of(asset, cache)
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY)          # every byte arrived; the rename never happened
    assert assets.fetch(asset.name, **QUIET).read_bytes() == BODY
    assert not part.exists()
    # with the size known nothing is asked; without it the server's 416 says "nothing after that"
    assert server.requests == ([] if size_known else [("/f", f"bytes={len(BODY)}-")])


@pytest.mark.parametrize("stale", ["same size, other bytes", "longer than the file"])
def test_stale_part_is_moved_aside_and_the_file_fetched_afresh(cache, server, monkeypatch, stale):
    server.routes["/f"] = static(BODY)
    asset = register(monkeypatch, [server.url + "/f"])
    part = part_of(asset, cache)
    part.parent.mkdir(parents=True)
    old = bytes(len(BODY)) if stale.startswith("same") else BODY + b"tail"
    part.write_bytes(old)
    assert assets.fetch(asset.name, **QUIET).read_bytes() == BODY
    kept = list((cache / "quarantine").glob(f"*{part.name}"))
    assert len(kept) == 1 and kept[0].read_bytes() == old            # moved aside, not deleted
    assert "earlier" in kept[0].with_name(kept[0].name + ".why.txt").read_text()


# ---------------------------------------------------------------------------
# 2. protocol errors go to the next mirror
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["chunked body cut mid-chunk", "garbage status line"])
def test_protocol_errors_fall_through_to_the_next_mirror(cache, server, monkeypatch, fault):
    server.routes["/bad"] = chunked_cut(BODY) if fault.startswith("chunked") else garbage_status
    server.routes["/good"] = static(BODY)
    asset = register(monkeypatch, [server.url + "/bad", server.url + "/good"])
    assert assets.fetch(asset.name, **QUIET).read_bytes() == BODY
    assert [p for p, _ in server.requests][:2] == ["/bad", "/good"]
    # alone, the same fault is one AssetError naming the source and what to do
    only_bad = register(monkeypatch, [server.url + "/bad"], name="fault_only_bad")
    with pytest.raises(AssetError) as err:
        assets.fetch(only_bad.name, **QUIET)
    msg = str(err.value)
    assert server.url + "/bad" in msg and "tlcourse fetch fault_only_bad" in msg
    assert ("IncompleteRead" in msg) if fault.startswith("chunked") else ("BadStatusLine" in msg)


# ---------------------------------------------------------------------------
# 3. a trickling server, and the timeout variable
# ---------------------------------------------------------------------------
def test_trickling_server_is_given_up_for_the_next_mirror(cache, server, monkeypatch):
    monkeypatch.setenv("TLCOURSE_URL_TIMEOUT", "1")
    server.routes["/slow"] = trickle(BODY)              # 10 bytes/s, each read well within 1 s
    server.routes["/good"] = static(BODY)
    asset = register(monkeypatch, [server.url + "/slow", server.url + "/good"])
    t0 = time.monotonic()
    assert assets.fetch(asset.name, **QUIET).read_bytes() == BODY
    assert time.monotonic() - t0 < 4                    # the trickle alone lasts 8 s
    only_slow = register(monkeypatch, [server.url + "/slow"], name="fault_only_slow")
    with pytest.raises(AssetError, match="TLCOURSE_URL_TIMEOUT"):
        assets.fetch(only_slow.name, **QUIET)


@pytest.mark.parametrize("raw, seconds", [("30", 30.0), ("30s", 30.0), (" 2.5 ", 2.5), ("", 30.0)])
def test_url_timeout_accepts_seconds(monkeypatch, raw, seconds):
    monkeypatch.setenv("TLCOURSE_URL_TIMEOUT", raw)
    assert assets.url_timeout_s() == seconds


@pytest.mark.parametrize("raw", ["0", "-5", "abc", "30 min", "inf", "nan"])
def test_url_timeout_rejects_nonsense_with_one_clear_line(cache, server, monkeypatch, raw):
    monkeypatch.setenv("TLCOURSE_URL_TIMEOUT", raw)
    server.routes["/f"] = static(BODY)
    asset = register(monkeypatch, [server.url + "/f"])
    with pytest.raises(AssetError) as err:
        assets.fetch(asset.name, **QUIET)
    msg = str(err.value)
    assert repr(raw) in msg and "TLCOURSE_URL_TIMEOUT=30" in msg and "\n" not in msg
    assert server.requests == []


@pytest.mark.parametrize("raw", ["30s", "abc"])
def test_the_timeout_is_not_read_at_import(tmp_path, raw):
    # `tlcourse fetch --list` needs no network: a value it never uses must not break it
    env = dict(os.environ, TLCOURSE_URL_TIMEOUT=raw, TLCOURSE_CACHE=str(tmp_path))
    code = "from tlcourse import assets; assets.status_rows()"
    proc = subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------
# 4. a cached file is never used unverified
# ---------------------------------------------------------------------------
BIG = (64 << 20) + 1          # at or above the size the old code trusted on size and mtime


def _write_big(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:              # sparse: cheap on disk, full size to read
        f.truncate(BIG)
        f.seek(BIG // 2)
        f.write(b"weights")


def test_flipped_bytes_with_mtime_restored_are_never_used(cache, monkeypatch):
    monkeypatch.setattr(assets, "STAMP_AFTER_S", 0, raising=False)   # stamped at once (see below)
    path = cache / "downloads" / "big.bin"
    _write_big(path)
    asset = register(monkeypatch, ["http://127.0.0.1:9/big.bin"], name="big",
                     body=path.read_bytes())
    monkeypatch.setitem(assets.REGISTRY, "big", dataclasses.replace(asset, filename="big.bin"))
    asset = assets.get("big")
    assert assets.is_cached(asset)
    assert (cache / "downloads" / ".big.bin.verified").is_file()
    st = path.stat()
    time.sleep(0.02)                          # a clock tick: the write below gets a new ctime
    with open(path, "r+b") as f:
        f.seek(BIG // 3)
        f.write(b"\xff\xff\xff\xff")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert not assets.is_cached(asset)
    with pytest.raises(AssetError):           # its only source is down: no silent use
        assets.fetch("big", **QUIET)
    assert not path.exists()
    kept = list((cache / "quarantine").glob("*big.bin"))
    assert len(kept) == 1 and kept[0].stat().st_size == BIG


def test_verified_file_is_trusted_on_its_stamp_until_it_changes(cache, monkeypatch):
    path = cache / "downloads" / "small.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(BODY)
    register(monkeypatch, ["http://127.0.0.1:9/x"], name="small")
    monkeypatch.setitem(assets.REGISTRY, "small",
                        dataclasses.replace(assets.get("small"), filename="small.bin"))
    asset = assets.get("small")
    hashed = []
    real_matches = assets.Hash.matches
    monkeypatch.setattr(assets.Hash, "matches", lambda h, p: hashed.append(p)
                        or real_matches(h, p))
    stamp = cache / "downloads" / ".small.bin.verified"
    # a file written just now is verified but not stamped: a write in the same
    # clock tick would keep its ctime (the "racy" case)
    assert assets.is_cached(asset) and not stamp.exists() and len(hashed) == 1
    monkeypatch.setattr(assets, "STAMP_AFTER_S", 0)
    assert assets.is_cached(asset) and stamp.exists() and len(hashed) == 2
    assert assets.is_cached(asset) and len(hashed) == 2          # the stamp check: no hashing
    path.write_bytes(BODY[::-1])
    assert not assets.is_cached(asset) and len(hashed) == 3


# ---------------------------------------------------------------------------
# 6. two fetches of one asset at once
# ---------------------------------------------------------------------------
def test_concurrent_fetches_of_one_asset_wait_for_each_other(cache, server, monkeypatch):
    server.routes["/f"] = static(BODY, pieces=8, pause=0.05)    # 0.4 s: the two overlap
    asset = register(monkeypatch, [server.url + "/f"])
    results, errors = [], []

    def one():
        try:
            results.append(assets.fetch(asset.name, **QUIET))
        except Exception as exc:    # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(results) == 2 and results[0].read_bytes() == BODY
    assert len(server.requests) == 1            # the second waited, then found it cached
    assert not (cache / "quarantine").exists()


# ---------------------------------------------------------------------------
# 7. quarantine never overwrites
# ---------------------------------------------------------------------------
def test_three_quarantines_in_one_second_keep_all_three(cache):
    src = cache / "downloads"
    src.mkdir(parents=True)
    t0 = time.monotonic()
    targets = []
    for i in range(3):
        f = src / "same.bin"
        f.write_bytes(f"version {i}".encode())
        targets.append(assets.quarantine(f, f"test {i}"))
    assert time.monotonic() - t0 < 1
    assert len(set(targets)) == 3
    assert sorted(t.read_text() for t in targets) == ["version 0", "version 1", "version 2"]
    assert all(t.name.endswith("same.bin") for t in targets)
    assert sorted(t.with_name(t.name + ".why.txt").read_text() for t in targets) == \
        ["test 0\n", "test 1\n", "test 2\n"]


# ---------------------------------------------------------------------------
# 8. a damaged stamp is ignored and rebuilt, never a crash (issue 30)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["non-UTF-8 bytes", "a directory", "foreign text"])
def test_a_damaged_stamp_is_ignored_and_rebuilt(cache, monkeypatch, damage):
    monkeypatch.setattr(assets, "STAMP_AFTER_S", 0)
    path = cache / "downloads" / "small.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(BODY)
    register(monkeypatch, ["http://127.0.0.1:9/x"], name="small")
    monkeypatch.setitem(assets.REGISTRY, "small",
                        dataclasses.replace(assets.get("small"), filename="small.bin"))
    asset = assets.get("small")
    stamp = cache / "downloads" / ".small.bin.verified"
    if damage == "a directory":
        stamp.mkdir()
        (stamp / "inside").write_text("x")
    else:
        stamp.write_bytes(b"\xff\xfe\x80 not utf-8" if damage.startswith("non") else b"[]")
    assert assets.fetch("small", **QUIET) == path       # hashed again, not fetched (source down)
    assert stamp.is_file() and assets.has_stamp(asset)  # and a good stamp written in its place
    if damage == "a directory":                         # moved aside, not deleted
        assert len(list((cache / "quarantine").glob("*.small.bin.verified"))) == 1


# ---------------------------------------------------------------------------
# 9. a disk too small for a download is said before any byte is asked for (issue 30)
# ---------------------------------------------------------------------------
def test_a_download_that_cannot_fit_is_one_line_before_any_request(cache, server, monkeypatch):
    server.routes["/f"] = static(BODY)
    register(monkeypatch, [server.url + "/f"])
    monkeypatch.setattr(assets.cache, "free_bytes", lambda folder: 1000)
    with pytest.raises(AssetError) as err:
        assets.fetch("fault_file", **QUIET)
    msg = str(err.value)
    assert "\n" not in msg and "not enough space in" in msg and str(cache) in msg
    assert f"{len(BODY) / 1e6:,.1f} MB needed" in msg and "0.0 MB free" in msg
    assert server.requests == []
