"""The real download code against a real HTTP server on 127.0.0.1.

The server serves archives built by the stand-in generator (real names and
layout); the registry entries are pointed at it, and ``datasets.fetch`` does
the rest exactly as it would against Microsoft's and Oxford's servers.
"""
from __future__ import annotations

import dataclasses
import gzip
import http.server
import io
import socket
import tarfile
import threading
import zipfile

import pytest

from tlcourse import assets, datasets, standin
from tlcourse.assets import Url, file_digest, md5, sha256
from tlcourse.profiles import get_profile

QUIET = dict(progress=False, log=lambda *_: None)


class Server:
    """Serves ``files`` {url path: bytes} with Range support, plus failure modes:
    ``drop_first[path] = n`` sends only n bytes of the first response and closes."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_first: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                drop = outer.drop_first.pop(self.path, None)
                if drop is not None:       # the connection dies mid-file
                    self.wfile.write(body[start:start + drop])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused: a server that is down)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    out = tmp_path_factory.mktemp("archives")
    paths = standin.build_archives(out, cats_dogs_per_class=12, pets_per_breed=2)
    return {name: p.read_bytes() for name, p in paths.items()}


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLCOURSE_URL_TIMEOUT", "5")
    return tmp_path / "cache"


def point_at(monkeypatch, asset_name: str, urls, body: bytes, algo: str = "md5"):
    """Re-register ``asset_name`` with local mirrors and the hash of ``body``."""
    a = assets.get(asset_name)
    h = md5(file_digest_bytes(body, "md5")) if algo == "md5" else sha256(
        file_digest_bytes(body, "sha256"))
    monkeypatch.setitem(assets.REGISTRY, asset_name, dataclasses.replace(
        a, sources=tuple(Url(u) for u in urls), hash=h, size=len(body)))


def file_digest_bytes(body: bytes, algo: str) -> str:
    import hashlib
    return hashlib.new(algo, body).hexdigest()


def serve_cats_dogs(server, archives, monkeypatch, urls=None, body=None):
    name = "kagglecatsanddogs_5340.zip"
    good = archives[name]
    server.files["/" + name] = good if body is None else body
    point_at(monkeypatch, "cats_dogs_zip", urls or [f"{server.url}/{name}"], good, "sha256")
    return name


REAL = get_profile("smoke", data="real")


def test_happy_path_downloads_verifies_extracts_and_splits(env, server, archives, monkeypatch):
    serve_cats_dogs(server, archives, monkeypatch)
    root = datasets.fetch("cats_dogs", **QUIET)
    assert root == env / "datasets" / "cats_vs_dogs"
    assert (root / "PetImages" / "Cat" / "0.jpg").is_file()
    assert (env / "downloads" / "kagglecatsanddogs_5340.zip").is_file()
    assert not list((env / "datasets").glob(".tmp-*"))
    data = datasets.cats_dogs(REAL, progress=False)
    assert not data.standin and data.label == "real data"
    assert sum(len(s) for s in data) == 24 - len(data.scan_report.excluded)
    # a second fetch uses the cache: no new request
    n = len(server.requests)
    datasets.fetch("cats_dogs", **QUIET)
    assert len(server.requests) == n


def test_resume_after_the_connection_drops(env, server, archives, monkeypatch):
    name = serve_cats_dogs(server, archives, monkeypatch)
    size = len(archives[name])
    server.drop_first["/" + name] = size // 3
    with pytest.raises(datasets.DatasetError, match="resume"):
        datasets.fetch("cats_dogs", **QUIET)
    part = env / "partial" / (name + ".part")
    assert part.stat().st_size == size // 3
    assert not (env / "datasets" / "cats_vs_dogs").exists()
    datasets.fetch("cats_dogs", **QUIET)
    assert server.requests[-1] == ("/" + name, f"bytes={size // 3}-")    # resumed, not restarted
    assert file_digest(env / "downloads" / name) == file_digest_bytes(archives[name], "sha256")
    assert not part.exists()


def test_checksum_mismatch_extracts_nothing_and_quarantines(env, server, archives, monkeypatch):
    name = "kagglecatsanddogs_5340.zip"
    bad = bytearray(archives[name])
    bad[len(bad) // 2] ^= 0xFF
    serve_cats_dogs(server, archives, monkeypatch, body=bytes(bad))
    with pytest.raises(datasets.DatasetError) as err:
        datasets.fetch("cats_dogs", **QUIET)
    msg = str(err.value)
    assert "checksum mismatch" in msg and "To get it by hand" in msg
    assert not (env / "datasets" / "cats_vs_dogs").exists()
    assert not (env / "downloads" / name).exists()          # not where a loader would use it
    assert not (env / "partial" / (name + ".part")).exists()
    quarantined = list((env / "quarantine").glob(f"*{name}.part"))
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == bytes(bad)


def test_first_mirror_down_second_up(env, server, archives, monkeypatch):
    down = closed_port_url()
    for asset_name, file in (("oxford_pets_images", "images.tar.gz"),
                             ("oxford_pets_annotations", "annotations.tar.gz")):
        server.files["/pets/" + file] = archives[file]
        point_at(monkeypatch, asset_name, [f"{down}/{file}", f"{server.url}/pets/{file}"],
                 archives[file])
    root = datasets.fetch("oxford_pets", **QUIET)
    assert (root / "annotations" / "trainval.txt").is_file()
    data = datasets.oxford_pets(REAL, progress=False)
    assert len(data.class_names) == 37 and not data.standin


def truncated(gz: bytes) -> bytes:
    """An archive whose download "succeeds" (its hash is what we registered) but is cut short."""
    return gz[: len(gz) * 2 // 3]


def bad_header_mid_archive(gz: bytes) -> bytes:
    """The tar inside with one member's header overwritten: tarfile stops there quietly."""
    raw = gzip.decompress(gz)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        members = tf.getmembers()
    mid = members[len(members) // 2].offset
    raw = raw[:mid] + b"X" * 512 + raw[mid + 512:]
    return gzip.compress(raw, mtime=0)


def wrong_gzip_crc(gz: bytes) -> bytes:
    """Every tar member intact, but the gzip trailer's CRC-32 does not match the data."""
    bad = bytearray(gz)
    bad[-8] ^= 0xFF
    return bytes(bad)


def flipped_mid_stream(gz: bytes) -> bytes:
    bad = bytearray(gz)
    bad[len(bad) // 2] ^= 0x55
    return bytes(bad)


@pytest.mark.parametrize("damage", [truncated, bad_header_mid_archive, wrong_gzip_crc,
                                    flipped_mid_stream])
def test_damaged_tar_gz_is_quarantined_not_half_extracted(env, server, archives, monkeypatch,
                                                          damage):
    # the download is "good" (we register the damaged archive's own hash): extraction must notice
    file = "images.tar.gz"
    bad = damage(archives[file])
    server.files["/" + file] = bad
    server.files["/annotations.tar.gz"] = archives["annotations.tar.gz"]
    point_at(monkeypatch, "oxford_pets_images", [f"{server.url}/{file}"], bad)
    point_at(monkeypatch, "oxford_pets_annotations", [f"{server.url}/annotations.tar.gz"],
             archives["annotations.tar.gz"])
    with pytest.raises(datasets.DatasetError, match="damaged") as err:
        datasets.fetch("oxford_pets", **QUIET)
    assert "nothing was extracted" in str(err.value)
    assert not (env / "datasets" / "oxford-iiit-pet").exists()
    assert not list((env / "datasets").glob(".tmp-*"))
    assert not (env / "downloads" / file).exists()
    kept = list((env / "quarantine").glob(f"*{file}"))
    assert len(kept) == 1 and kept[0].read_bytes() == bad


def test_archive_without_the_expected_layout_is_not_extracted(env, server, archives, monkeypatch):
    name = "kagglecatsanddogs_5340.zip"
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archives[name])) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if not info.filename.startswith("PetImages/Dog/"):
                dst.writestr(info, src.read(info))
    no_dogs = out.getvalue()
    server.files["/" + name] = no_dogs
    point_at(monkeypatch, "cats_dogs_zip", [f"{server.url}/{name}"], no_dogs, "sha256")
    with pytest.raises(datasets.DatasetError, match="PetImages/Dog") as err:
        datasets.fetch("cats_dogs", **QUIET)
    assert "nothing was extracted" in str(err.value)
    assert not (env / "datasets" / "cats_vs_dogs").exists()


def test_no_network_gives_manual_instructions(env, archives, monkeypatch):
    for asset_name in ("oxford_pets_images", "oxford_pets_annotations"):
        a = assets.get(asset_name)
        monkeypatch.setitem(assets.REGISTRY, asset_name, dataclasses.replace(
            a, sources=(Url(closed_port_url() + "/" + a.filename),
                        Url(closed_port_url() + "/" + a.filename))))
    with pytest.raises(datasets.DatasetError) as err:
        datasets.fetch("oxford_pets", **QUIET)
    msg = str(err.value)
    assert "Connection refused" in msg or "refused" in msg.lower()
    assert "images.tar.gz" in msg and "download it in a browser" in msg
    assert str(env / "downloads" / "images.tar.gz") in msg
    assert "tlcourse fetch oxford_pets --standin" in msg
    assert not (env / "datasets").exists() or not any((env / "datasets").iterdir())


def test_the_registered_real_sources_are_the_known_mirrors():
    pets = assets.get("oxford_pets_images")
    hosts = [s.url.split("/")[2] for s in pets.sources]
    assert hosts == ["www.robots.ox.ac.uk", "thor.robots.ox.ac.uk"]
    assert str(pets.hash) == "md5:5c4f3ee8e5d25df40f4fd59a7f44e54c"   # torchvision's
    cd = assets.get("cats_dogs_zip")
    assert cd.size == 824_887_076 and cd.hash.algo == "sha256"
