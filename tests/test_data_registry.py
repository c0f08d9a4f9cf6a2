"""Tests of the data registry (solarcnn.data): manifests, mirror, cache, downloads, CLI.

No test touches the internet: real manifests are exercised through the local
mirror (``../shared/data``; those tests are skipped without it), and downloads
through an ``http.server`` on 127.0.0.1 serving files made here.
"""
from __future__ import annotations

import argparse
import builtins
import hashlib
import http.server
import io
import os
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from solarcnn.data import cli as data_cli
from solarcnn.data import registry
from solarcnn.errors import ChecksumError, DataFileError, ManifestError

REPO = Path(__file__).resolve().parents[1]
FIXED_NAMES = ["hinode_sot", "hmi_magnetograms", "helioviewer_jp2", "solar_images", "goes_flares", "wsiseg",
               "deepcam_stats", "cam5_grid", "reanalysis", "ibtracs"]


def _mirror_root() -> Path | None:
    env = os.environ.get("SOLARCNN_DATA_MIRROR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "SHA256SUMS").is_file():
            return cand
    return None


MIRROR = _mirror_root()
needs_mirror = pytest.mark.skipif(MIRROR is None, reason="the local data mirror (../shared/data) is not here")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache in tmp_path, the real manifests, the real mirror (when present)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SOLARCNN_CACHE", str(root))
    monkeypatch.delenv("SOLARCNN_MANIFESTS", raising=False)
    if MIRROR is not None:
        monkeypatch.setenv("SOLARCNN_DATA_MIRROR", str(MIRROR))
    return root


def _write_manifest(folder: Path, name: str, files: list[dict], **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"name": name, "description": "test set", "citation": "nobody", "licence": "MIT",
           "mirror_dir": extra.pop("mirror_dir", "toy"), "files": files, **extra}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A private manifest folder + mirror + cache with a small set 'toy' of two files."""
    manifests, mirror, cache_root = tmp_path / "manifests", tmp_path / "mirror", tmp_path / "cache"
    a, b = os.urandom(3000), b"second file\n" * 50
    (mirror / "toy" / "sub").mkdir(parents=True)
    (mirror / "toy" / "a.bin").write_bytes(a)
    (mirror / "toy" / "sub" / "b.txt").write_bytes(b)
    files = [{"path": "a.bin", "sha256": sha(a), "size": len(a), "url": "http://127.0.0.1:9/a.bin"},
             {"path": "sub/b.txt", "sha256": sha(b), "size": len(b), "url": "http://127.0.0.1:9/b.txt"}]
    _write_manifest(manifests, "toy", files)
    monkeypatch.setenv("SOLARCNN_MANIFESTS", str(manifests))
    monkeypatch.setenv("SOLARCNN_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("SOLARCNN_CACHE", str(cache_root))
    return {"manifests": manifests, "mirror": mirror, "cache": cache_root, "a": a, "b": b, "files": files}


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part-" in p.name] if folder.exists() else []


# --------------------------------------------------------------------------- manifests
def test_fixed_data_set_names_are_listed(cache):
    names = registry.list_datasets()
    assert set(FIXED_NAMES) <= set(names)
    assert "synthetic_sunspot_disk" in registry.list_datasets(kind="derived")
    assert set(registry.list_datasets(kind="files")) == set(FIXED_NAMES)
    with pytest.raises(ValueError, match="received 'real'"):
        registry.list_datasets(kind="real")


def test_every_manifest_is_valid_and_names_a_public_origin(cache):
    for name in registry.list_datasets():
        m = registry.manifest(name)
        assert m.name == name and m.citation and m.licence and m.description
        if m.is_derived:
            assert set(m.derived) >= {"generator", "options", "command", "description"}
            continue
        for f in m.files:
            if f.url:
                assert re.match(r"^https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/", f.url), f.url
            elif f.archive:
                assert f.archive["url"].startswith("https://files.pythonhosted.org/packages/"), f.archive
                assert f.archive["url"].endswith((".whl", ".tar.gz")) and f.archive["member"]
            else:
                assert f.derived_from["url"].startswith("https://raw.githubusercontent.com/")


def test_renamed_files_record_their_original_names(cache):
    originals = {f.path: f.original_name for n in FIXED_NAMES for f in registry.manifest(n).files if f.original_name}
    assert originals == {"bbso_halpha_20020430_165555_cleaned.fits": "Example_bbso_cleaned.fits",
                         "ClimDeepLearn_lat_lon.pkl": "lat_lon.pkl",
                         "ibtracs_wmo_subset_1980-2024.csv": "wmo.csv"}


@needs_mirror
def test_manifests_cover_sha256sums_exactly_once(cache):
    sums = {}
    for line in (MIRROR / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split(None, 1)
        sums[rel.strip()] = digest
    assert len(sums) == 218
    covered: dict[str, str] = {}
    for name in registry.list_datasets(kind="files"):
        m = registry.manifest(name)
        for f in m.files:
            key = f"{m.mirror_dir}/{f.path}"
            assert key not in covered, f"{key} is in both {covered.get(key)} and {name}"
            covered[key] = name
            assert sums.get(key) == f.sha256, key
            assert (MIRROR / key).stat().st_size == f.size, key
    assert set(covered) == set(sums)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("licence"), r"missing required key 'licence'"),
    (lambda d: d["files"][0].update(sha256="abc"), r"'files\[0\]\.sha256' must be 64 lower-case hex.*'abc'"),
    (lambda d: d["files"][0].update(sha265="0" * 64), r"unknown key 'files\[0\]\.sha265'"),
    (lambda d: d["files"][0].update(size="12"), r"'files\[0\]\.size' must be int.*'12'"),
    (lambda d: d["files"][0].update(size=True), r"'files\[0\]\.size' must be int"),
    (lambda d: d["files"][0].update(path="../x"), r"'files\[0\]\.path' must be a clean relative POSIX path"),
    (lambda d: d["files"][1].update(path="a.bin"), r"'files\[1\]\.path' repeats 'a.bin'"),
    (lambda d: d["files"][0].pop("url"), r"needs exactly one of the keys 'url', 'archive', 'derived_from'"),
    (lambda d: d["files"][0].update(archive={"url": "https://x/y.whl", "sha256": "0" * 64}),
     r"needs exactly one of the keys"),
    (lambda d: d["files"][0].update(url="ftp:/bad"), r"'files\[0\]\.url' must be an http"),
    (lambda d: d.update(name="other"), r"key 'name' is 'other' but the file is called 'toy.yaml'"),
    (lambda d: d.update(derived={"generator": "g", "options": {}, "command": "c", "description": "d"}),
     r"exactly one of the keys 'files'.*it has both"),
    (lambda d: d.pop("mirror_dir"), r"missing required key 'mirror_dir'"),
    (lambda d: d.update(files=[]), r"key 'files' is an empty list"),
])
def test_malformed_manifest_names_the_file_and_key(toy, change, message):
    path = toy["manifests"] / "toy.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ManifestError, match=message) as exc:
        registry.manifest("toy")
    assert str(path) in str(exc.value)


def test_manifest_that_is_not_yaml_mapping(toy):
    path = toy["manifests"] / "toy.yaml"
    path.write_text("files: [unclosed\n")
    with pytest.raises(ManifestError, match=r"toy\.yaml: not valid YAML"):
        registry.manifest("toy")
    path.write_text("- just\n- a list\n")
    with pytest.raises(ManifestError, match=r"toy\.yaml: a manifest must be a YAML mapping"):
        registry.manifest("toy")


def test_unknown_data_set_lists_the_known_ones(cache):
    with pytest.raises(ManifestError, match=r"unknown data set 'hinode'; known data sets: .*hinode_sot"):
        registry.fetch("hinode")


def test_unknown_file_in_a_set(cache):
    with pytest.raises(ManifestError, match=r"data set 'wsiseg' has no file 'images/nope\.png'"):
        registry.fetch("wsiseg", "images/nope.png")
    with pytest.raises(ManifestError, match=r"Did you mean .*'images/ASC100-1006_001\.png'\?"):
        registry.path("wsiseg", "img/ASC100-1006_001.png")


# --------------------------------------------------------------------------- mirror + cache
def test_cache_env_moves_the_cache(monkeypatch, tmp_path):
    import pooch

    monkeypatch.delenv("SOLARCNN_CACHE", raising=False)
    assert registry.cache_dir() == Path(pooch.os_cache("solarcnn"))
    monkeypatch.setenv("SOLARCNN_CACHE", str(tmp_path / "c"))
    assert registry.cache_dir() == tmp_path / "c"
    assert registry.path("hinode_sot") == tmp_path / "c" / "hinode_sot"


def test_mirror_env_naming_a_missing_folder(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("SOLARCNN_DATA_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(DataFileError, match=r"nowhere: \$SOLARCNN_DATA_MIRROR names this folder, but it does not"):
        registry.fetch("cam5_grid")


@needs_mirror
def test_fetch_one_file_from_the_mirror(cache):
    p = registry.fetch("wsiseg", "images/ASC100-1006_001.png")
    assert p == cache / "wsiseg" / "images" / "ASC100-1006_001.png"
    assert p.read_bytes() == (MIRROR / "wsiseg/images/ASC100-1006_001.png").read_bytes()
    assert sorted(x.name for x in (cache / "wsiseg").rglob("*") if x.is_file()) == ["ASC100-1006_001.png"]
    assert registry.path("wsiseg", "images/ASC100-1006_001.png") == p


@needs_mirror
def test_fetch_whole_set_verify_and_path(cache):
    root = registry.fetch("hinode_sot")
    assert root == cache / "hinode_sot" == registry.path("hinode_sot")
    assert len(list(root.glob("FG*.fits.gz"))) == 18
    statuses = registry.verify("hinode_sot")
    assert len(statuses) == 18 and all(s.ok and s.status == "ok" for s in statuses)
    assert not _parts(root)


@needs_mirror
def test_fetch_a_folder_and_mirror_style_paths(cache):
    srs = registry.fetch("goes_flares", "noaa_srs")
    assert srs == cache / "goes_flares" / "noaa_srs" and len(list(srs.glob("*SRS.txt"))) == 12
    p1 = registry.fetch("ibtracs", "tc_tracks/IBTrACS.last3years.v04r00_2_storms.nc")
    p2 = registry.fetch("ibtracs", "climate/tc_tracks/IBTrACS.last3years.v04r00_2_storms.nc")
    assert p1 == p2 == cache / "ibtracs" / "IBTrACS.last3years.v04r00_2_storms.nc"
    assert registry.fetch("reanalysis", "storm_jan1996/Pstorm.cdf").is_file()


@needs_mirror
def test_path_fetches_nothing(cache):
    p = registry.path("deepcam_stats", "stats.h5")
    assert p == cache / "deepcam_stats" / "stats.h5" and not p.exists()
    assert not registry.verify("deepcam_stats")[0].ok


@needs_mirror
def test_verify_reports_missing_files(cache):
    (st,) = registry.verify("cam5_grid")
    assert st.status == "missing" and "not in the cache" in st.message and "solarcnn data fetch cam5_grid" in st.message
    with pytest.raises(DataFileError, match=r"ClimDeepLearn_lat_lon\.pkl: file of data set 'cam5_grid' is not in"):
        registry.verify("cam5_grid", raise_on_error=True)


@needs_mirror
def test_corrupt_cached_file_is_reported_then_fetched_again(cache):
    p = registry.fetch("cam5_grid", "ClimDeepLearn_lat_lon.pkl")
    good = p.read_bytes()
    bad = bytearray(good)
    bad[100] ^= 0xFF
    p.write_bytes(bytes(bad))
    (st,) = registry.verify("cam5_grid")
    assert st.status == "checksum mismatch"
    expected = registry.manifest("cam5_grid").files[0].sha256
    assert f"expected {expected}, got {sha(bytes(bad))}" in st.message and str(p) in st.message
    with pytest.raises(ChecksumError, match=r"ClimDeepLearn_lat_lon\.pkl: SHA-256 mismatch: expected"):
        registry.verify("cam5_grid", raise_on_error=True)
    assert registry.fetch("cam5_grid", "ClimDeepLearn_lat_lon.pkl").read_bytes() == good
    assert registry.verify("cam5_grid")[0].ok


@needs_mirror
def test_truncated_cached_file_is_reported_then_fetched_again(cache):
    p = registry.fetch("deepcam_stats", "stats.h5")
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size // 2)
    (st,) = registry.verify("deepcam_stats")
    assert st.status == "size mismatch"
    assert f"size is {size // 2} bytes, expected {size} bytes (truncated" in st.message
    assert registry.fetch("deepcam_stats", "stats.h5").stat().st_size == size
    assert registry.verify("deepcam_stats")[0].ok


def test_corrupt_mirror_file_gives_checksum_error_and_no_cached_file(toy):
    bad = bytearray(toy["a"])
    bad[0] ^= 1
    src = toy["mirror"] / "toy" / "a.bin"
    src.write_bytes(bytes(bad))
    with pytest.raises(ChecksumError) as exc:
        registry.fetch("toy", "a.bin")
    msg = str(exc.value)
    assert msg.startswith(f"{src}: SHA-256 mismatch: expected {sha(toy['a'])}, got {sha(bytes(bad))}")
    assert not (toy["cache"] / "toy" / "a.bin").exists() and not _parts(toy["cache"])


def test_truncated_mirror_file(toy):
    src = toy["mirror"] / "toy" / "sub" / "b.txt"
    src.write_bytes(toy["b"][:100])
    with pytest.raises(ChecksumError, match=re.escape(f"{src}: size is 100 bytes, expected {len(toy['b'])} bytes "
                                                      "(truncated")):
        registry.fetch("toy")
    assert not (toy["cache"] / "toy" / "sub" / "b.txt").exists()


def test_file_missing_in_the_mirror(toy):
    src = toy["mirror"] / "toy" / "sub" / "b.txt"
    src.unlink()
    with pytest.raises(DataFileError, match=re.escape(f"{src}: file of data set 'toy' is missing in the mirror")):
        registry.fetch("toy")
    rc, out, err = _cli(["fetch", "toy"])
    assert rc == 1 and "cached  a.bin" in out and "toy: 1 cached, 1 failed" in out
    assert f"FAILED  sub/b.txt: {src}: file of data set 'toy'" in err


class _FlakyFile(io.RawIOBase):
    """Delivers one chunk of a file, then fails as an interrupted copy would."""

    def __init__(self, path, exc):
        self._data, self._exc, self._done = Path(path).read_bytes(), exc, False

    def read(self, n=-1):
        if self._done:
            raise self._exc
        self._done = True
        return self._data[: min(n, 1000)]


@pytest.mark.parametrize("exc", [OSError("disk unplugged"), KeyboardInterrupt()])
def test_interrupted_copy_leaves_no_file_that_later_passes(toy, monkeypatch, exc):
    real_open = builtins.open
    src = toy["mirror"] / "toy" / "a.bin"

    def flaky_open(file, mode="r", *args, **kw):
        if Path(file) == src and "r" in mode:
            return _FlakyFile(src, exc)
        return real_open(file, mode, *args, **kw)

    monkeypatch.setattr(registry, "open", flaky_open, raising=False)
    with pytest.raises(type(exc)):
        registry.fetch("toy", "a.bin")
    dest = toy["cache"] / "toy" / "a.bin"
    assert not dest.exists() and not _parts(toy["cache"])
    monkeypatch.undo()
    # A process killed hard can leave its temporary file: it never counts as the file.
    monkeypatch.setenv("SOLARCNN_MANIFESTS", str(toy["manifests"]))
    monkeypatch.setenv("SOLARCNN_DATA_MIRROR", str(toy["mirror"]))
    monkeypatch.setenv("SOLARCNN_CACHE", str(toy["cache"]))
    dest.parent.mkdir(parents=True, exist_ok=True)
    (dest.parent / ".a.bin.part-1-deadbeef").write_bytes(toy["a"][:1000])
    assert registry.verify("toy", "a.bin")[0].status == "missing"
    assert registry.fetch("toy", "a.bin").read_bytes() == toy["a"]
    # ... and a half file under the final name (e.g. copied by hand) is caught by its size.
    dest.write_bytes(toy["a"][:1000])
    assert registry.verify("toy", "a.bin")[0].status == "size mismatch"
    assert registry.fetch("toy", "a.bin").read_bytes() == toy["a"]


@needs_mirror
def test_derived_file_without_mirror_explains_itself(cache, monkeypatch):
    monkeypatch.delenv("SOLARCNN_DATA_MIRROR")
    with pytest.raises(DataFileError, match=r"sky_type_subset\.csv: this file is not published byte for byte.*"
                                            r"properties\.csv"):
        registry.fetch("wsiseg", "sky_type_subset.csv")


# --------------------------------------------------------------------------- downloads (local HTTP server)
class _Server:
    """A 127.0.0.1 HTTP server: /f/NAME serves a file; /flaky/NAME fails once with 503; /down/NAME always
    fails with 503; /trunc/NAME announces the full length and sends only half. `requests` lists the paths asked."""

    def __init__(self, root: Path):
        self.root, self.requests, self.failed_once = root, [], set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                kind, _, name = self.path.lstrip("/").partition("/")
                path = outer.root / name
                if not path.is_file():
                    self.send_error(404, "not found")
                    return
                data = path.read_bytes()
                if kind == "down" or (kind == "flaky" and name not in outer.failed_once):
                    outer.failed_once.add(name)
                    self.send_error(503, "try again")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if kind == "trunc" else data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    root.mkdir()
    srv = _Server(root)
    yield srv
    srv.close()


def _net_manifest(toy, monkeypatch, files):
    _write_manifest(toy["manifests"], "net", files, mirror_dir="net")
    monkeypatch.delenv("SOLARCNN_DATA_MIRROR")


def test_download_plain_file(toy, server, monkeypatch):
    (server.root / "a.bin").write_bytes(toy["a"])
    _net_manifest(toy, monkeypatch, [{"path": "x/a.bin", "sha256": sha(toy["a"]), "size": len(toy["a"]),
                                      "url": f"{server.url}/f/a.bin"}])
    p = registry.fetch("net", "x/a.bin")
    assert p == toy["cache"] / "net" / "x" / "a.bin" and p.read_bytes() == toy["a"]
    assert registry.fetch("net", "x/a.bin") == p      # cached: no second request
    assert server.requests == ["/f/a.bin"]


def _wheel_and_sdist(root: Path, member_bytes: dict[str, bytes]) -> tuple[Path, Path]:
    whl = root / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        for name, data in member_bytes.items():
            zf.writestr(f"pkg/data/{name}", data)
    sdist = root / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for name, data in member_bytes.items():
            info = tarfile.TarInfo(f"pkg-1.0/src/pkg/data/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return whl, sdist


def test_download_archive_members(toy, server, monkeypatch):
    whl, sdist = _wheel_and_sdist(server.root, {"a.bin": toy["a"], "b.txt": toy["b"]})
    arc = lambda p, m: {"url": f"{server.url}/f/{p.name}", "sha256": sha(p.read_bytes()), "member": m}  # noqa: E731
    _net_manifest(toy, monkeypatch, [
        {"path": "a.bin", "sha256": sha(toy["a"]), "size": len(toy["a"]), "archive": arc(whl, "pkg/data/a.bin")},
        {"path": "b.txt", "sha256": sha(toy["b"]), "size": len(toy["b"]), "archive": arc(whl, "pkg/data/b.txt")},
        {"path": "t/a.bin", "sha256": sha(toy["a"]), "size": len(toy["a"]),
         "archive": arc(sdist, "pkg-1.0/src/pkg/data/a.bin")},
    ])
    rc, out, _ = _cli(["fetch", "net"])
    assert rc == 0 and "archive a.bin" in out and "3 archive" in out
    assert (toy["cache"] / "net" / "a.bin").read_bytes() == toy["a"]
    assert (toy["cache"] / "net" / "b.txt").read_bytes() == toy["b"]
    assert (toy["cache"] / "net" / "t" / "a.bin").read_bytes() == toy["a"]
    # each archive is downloaded once, then reused for its other members
    assert sorted(server.requests) == sorted([f"/f/{whl.name}", f"/f/{sdist.name}"])
    assert all(s.ok for s in registry.verify("net"))


def test_archive_without_the_member(toy, server, monkeypatch):
    whl, _ = _wheel_and_sdist(server.root, {"a.bin": toy["a"]})
    _net_manifest(toy, monkeypatch, [{"path": "a.bin", "sha256": sha(toy["a"]), "size": len(toy["a"]),
                                      "archive": {"url": f"{server.url}/f/{whl.name}",
                                                  "sha256": sha(whl.read_bytes()), "member": "pkg/data/zzz"}}])
    with pytest.raises(DataFileError, match=r"pkg-1\.0-py3-none-any\.whl: archive has no member 'pkg/data/zzz'"):
        registry.fetch("net")


def test_archive_member_with_wrong_checksum(toy, server, monkeypatch):
    whl, _ = _wheel_and_sdist(server.root, {"a.bin": toy["a"]})
    _net_manifest(toy, monkeypatch, [{"path": "a.bin", "sha256": "0" * 64, "size": len(toy["a"]),
                                      "archive": {"url": f"{server.url}/f/{whl.name}",
                                                  "sha256": sha(whl.read_bytes()), "member": "pkg/data/a.bin"}}])
    with pytest.raises(ChecksumError, match=r"a\.bin \(member pkg/data/a\.bin of .*\): SHA-256 mismatch: "
                                            r"expected 0{64}"):
        registry.fetch("net")
    assert not (toy["cache"] / "net" / "a.bin").exists()


def test_checksum_mismatch_served_by_the_server(toy, server, monkeypatch):
    (server.root / "a.bin").write_bytes(toy["b"])          # the server has other bytes
    dest = toy["cache"] / "dl" / "a.bin"
    with pytest.raises(ChecksumError) as exc:
        registry.download(f"{server.url}/f/a.bin", dest, sha256=sha(toy["a"]), retries=2, backoff=0)
    assert f"downloaded from {server.url}/f/a.bin" in str(exc.value)
    assert f"SHA-256 mismatch: expected {sha(toy['a'])}, got {sha(toy['b'])}" in str(exc.value)
    assert len(server.requests) == 2 and not dest.exists() and not _parts(dest.parent)


def test_retry_after_a_failing_request(toy, server):
    (server.root / "a.bin").write_bytes(toy["a"])
    dest = toy["cache"] / "dl" / "a.bin"
    p = registry.download(f"{server.url}/flaky/a.bin", dest, sha256=sha(toy["a"]), size=len(toy["a"]),
                          retries=3, backoff=0)
    assert p == dest and dest.read_bytes() == toy["a"]
    assert server.requests == ["/flaky/a.bin", "/flaky/a.bin"]


def test_download_that_keeps_failing_names_url_and_file(toy, server):
    (server.root / "a.bin").write_bytes(toy["a"])
    dest = toy["cache"] / "dl" / "a.bin"
    with pytest.raises(DataFileError, match=re.escape(f"{dest}: download of {server.url}/down/a.bin failed "
                                                      "(after 3 attempts): HTTPError: 503")):
        registry.download(f"{server.url}/down/a.bin", dest, retries=3, backoff=0)
    assert server.requests == ["/down/a.bin"] * 3 and not dest.exists() and not _parts(dest.parent)
    # a 404 is not retried: another attempt cannot fix it
    server.requests.clear()
    with pytest.raises(DataFileError, match=re.escape(f"{dest}: download of {server.url}/f/nothing.bin failed: "
                                                      "HTTPError: 404")):
        registry.download(f"{server.url}/f/nothing.bin", dest, retries=3, backoff=0)
    assert server.requests == ["/f/nothing.bin"] and not dest.exists()
    with pytest.raises(ValueError, match="retries must be >= 1; received 0"):
        registry.download(f"{server.url}/f/x", dest, retries=0)


def test_interrupted_download_leaves_no_file(toy, server):
    (server.root / "a.bin").write_bytes(toy["a"])
    dest = toy["cache"] / "dl" / "a.bin"
    with pytest.raises(DataFileError) as exc:   # the connection drops half-way, twice
        registry.download(f"{server.url}/trunc/a.bin", dest, sha256=sha(toy["a"]), size=len(toy["a"]),
                          retries=2, backoff=0)
    assert str(exc.value).startswith(str(dest))
    assert not dest.exists() and not _parts(dest.parent)
    # without an expected size or hash the truncation is still caught (Content-Length)
    with pytest.raises(DataFileError):
        registry.download(f"{server.url}/trunc/a.bin", dest, retries=1)
    assert not dest.exists()


# --------------------------------------------------------------------------- derived sets
def test_derived_set_builds_with_its_generator(cache):
    m = registry.manifest("synthetic_sunspot_disk")
    assert m.is_derived and m.derived["generator"] == "sunspot_disk"
    root = registry.fetch("synthetic_sunspot_disk")      # auto_build: true
    fits_files = sorted(root.glob("*.fits"))
    assert len(fits_files) == m.derived["options"]["n"] == 20
    from solarcnn.io.fits import read_fits

    data, header = read_fits(fits_files[0])       # the package's FITS reader reads the built files
    assert data.shape == (100, 100)

    with pytest.raises(ManifestError, match=r"'synthetic_sunspot_disk' is derived.*solarcnn data build"):
        registry.verify("synthetic_sunspot_disk")
    assert registry.fetch("synthetic_sunspot_disk", fits_files[0].name) == fits_files[0]
    with pytest.raises(DataFileError, match=r"nope\.fits: not in the built data set 'synthetic_sunspot_disk'"):
        registry.fetch("synthetic_sunspot_disk", "nope.fits")


def test_derived_set_without_auto_build_explains_how(toy):
    path = toy["manifests"] / "synthetic_toy.yaml"
    path.write_text(yaml.safe_dump({
        "name": "synthetic_toy", "description": "d", "citation": "c", "licence": "MIT",
        "derived": {"generator": "sunspot_disk", "options": {"seed": 1, "n": 2, "size": 32},
                    "command": "solarcnn data build synthetic_toy", "description": "two tiny disks."}}))
    with pytest.raises(DataFileError, match=r"synthetic_toy: not built yet\. .*Build it with "
                                            r"`solarcnn data build synthetic_toy`"):
        registry.fetch("synthetic_toy")
    assert len(list(registry.fetch("synthetic_toy", build=True).glob("*.fits"))) == 2
    doc = yaml.safe_load(path.read_text())
    doc["derived"]["generator"] = "no_such_generator"
    doc["name"] = "synthetic_bad"
    (toy["manifests"] / "synthetic_bad.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ManifestError, match=r"synthetic_bad\.yaml: key 'derived\.generator': no synthetic generator"):
        registry.build_derived("synthetic_bad")
    doc["name"] = "toy_derived"
    (toy["manifests"] / "toy_derived.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ManifestError, match=r"toy_derived\.yaml: a derived \(synthetic\) set's name must start with "
                                            r"'synthetic_'; received 'toy_derived'"):
        registry.manifest("toy_derived")


# --------------------------------------------------------------------------- CLI
def _cli(argv):
    import contextlib

    parser = argparse.ArgumentParser(prog="solarcnn")
    data_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = args.func(args)
    return rc, out.getvalue(), err.getvalue()


@needs_mirror
def test_cli_list_fetch_verify_path(cache):
    rc, out, _ = _cli(["list"])
    assert rc == 0 and "hinode_sot" in out and "18 files" in out and "synthetic_sunspot_disk" in out
    assert "derived: generator 'sunspot_disk'" in out and f"mirror {MIRROR}" in out
    rc, out, _ = _cli(["fetch", "goes_flares", "noaa_srs"])
    assert rc == 0 and "mirror  noaa_srs/19960106SRS.txt" in out and "goes_flares: 12 mirror" in out
    rc, out, _ = _cli(["fetch", "goes_flares", "noaa_srs"])
    assert rc == 0 and "goes_flares: 12 cached" in out
    rc, out, _ = _cli(["verify", "goes_flares", "noaa_srs"])
    assert rc == 0 and "all files ok" in out
    (cache / "goes_flares" / "noaa_srs" / "20150906SRS.txt").write_text("tampered\n")
    rc, out, err = _cli(["verify", "goes_flares"])
    assert rc == 1 and "SIZE MISMATCH" in err and "20150906SRS.txt: size is 9 bytes" in err
    assert "MISSING" in err and "17 file(s) failed" not in out and "6 file(s) failed" in out
    rc, out, _ = _cli(["path", "hinode_sot"])
    assert rc == 0 and out.strip() == str(cache / "hinode_sot")


def test_cli_is_wired_into_the_solarcnn_command(cache):
    from solarcnn.course import cli

    assert cli.main(["data", "path", "cam5_grid"]) == 0
    assert cli.main(["data", "fetch", "no_such_set"]) == 2


def test_missing_manifest_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SOLARCNN_MANIFESTS", str(tmp_path / "no_manifests"))
    with pytest.raises(ManifestError, match=r"no_manifests: the manifest folder does not exist"):
        registry.list_datasets()
