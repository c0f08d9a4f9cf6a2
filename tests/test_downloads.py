"""Resumable, verified downloads (issue 14 item 3) against loopback HTTP servers; nothing touches the network.

- an imitation of the Helioviewer API (getClosestImage, getJP2Image) serving the real HMI JP2 of the data
  registry's mirror;
- an imitation of the DeepCAM HTTPS folder (HTML directory listings) serving small, format-exact
  ``data-*.h5`` files of the cam5 generator and the real ``stats.h5``.

Each server records every request (path, Range header, status), answers at most `MAX_REQUESTS` and is shut
down in the fixture's teardown.
"""
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from solarcnn.errors import DataFileError

MAX_REQUESTS = 200


def real(dataset, relpath):
    from solarcnn.data import fetch

    return Path(fetch(dataset, relpath))


class Server:
    """A loopback HTTP server: ``routes`` maps a path (without query) to bytes or to a callable(query) -> bytes.

    Behaviours per path: ``fail[path] = n`` answers 500 to the next n requests; ``stall[path] = k`` sends the
    first k bytes of the body, then waits (until `release` is set) and closes the connection; a path in
    ``no_range`` ignores Range headers (answers 200 with the whole body).
    """

    def __init__(self):
        self.routes, self.fail, self.stall, self.log, self.no_range = {}, {}, {}, [], set()
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                rng = self.headers.get("Range")
                if len(server.log) >= MAX_REQUESTS:
                    return self._status(503, url.path, rng)
                if server.fail.get(url.path, 0) > 0:
                    server.fail[url.path] -= 1
                    return self._status(500, url.path, rng)
                route = server.routes.get(url.path)
                if route is None:
                    return self._status(404, url.path, rng)
                body = route(parse_qs(url.query)) if callable(route) else route
                start = 0
                if rng and rng.startswith("bytes=") and rng.endswith("-") and url.path not in server.no_range:
                    start = int(rng[6:-1])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        server.log.append((url.path, rng, 416))
                        return
                status = 206 if start else 200
                server.log.append((url.path, rng, status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                k = server.stall.get(url.path)
                if k is not None and start < k:
                    self.wfile.write(body[start:k])
                    self.wfile.flush()
                    server.release.wait(60)         # bounded: the test's teardown releases it
                    return
                self.wfile.write(body[start:])

            def _status(self, code, path, rng):
                server.log.append((path, rng, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def requests(self, path):
        return [(r, s) for p, r, s in self.log if p == path]

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


# ------------------------------------------------------------------------------------------------ Helioviewer
JP2 = "2023_01_31__03_39_23_200__SDO_HMI_HMI_continuum.jp2"


def helioviewer(server):
    body = real("helioviewer_jp2", JP2).read_bytes()
    server.routes["/v2/getClosestImage/"] = lambda q: json.dumps(
        {"id": 1, "date": "2023-01-31 03:39:23", "name": f"HMI {'continuum' if q['sourceId'] == ['18'] else 'x'}"}
    ).encode()
    server.routes["/v2/getJP2Image/"] = body
    return server.base + "/v2/", body


def test_helioviewer_download_converts_into_the_authors_layout(server, tmp_path):
    from PIL import Image

    from solarcnn.data.resumable import Downloader
    from solarcnn.flare.archive import download_hmi, open_archive

    base, _ = helioviewer(server)
    out = tmp_path / "hmi"
    report = download_hmi(out, "2023-01-31T03:30", "2023-01-31T05:30", source="hmi_continuum", base_url=base,
                          min_interval=0.0, backoff=0.01, progress=False)
    assert report.written == ["2023/01/31/HMI.m2023.01.31_03.30.00.jpg"]       # 9.4 min from the image
    assert sorted(report.no_image) == ["2023-01-31T04:30:00", "2023-01-31T05:30:00"]   # > 12 min: dropped
    with Image.open(out / report.written[0]) as im:
        assert im.mode == "L" and im.size == (512, 512) and im.format == "JPEG"
    assert not [p for p in out.rglob("*.jp2") if p.is_file()]                    # the JP2 is removed after conversion
    index = Downloader(out).index()
    assert list(index) == report.written and Downloader(out).verify() == {}
    n = len(server.log)
    again = download_hmi(out, "2023-01-31T03:30", "2023-01-31T05:30", source="hmi_continuum", base_url=base,
                         min_interval=0.0, progress=False)
    assert len(server.log) == n and again.kept == report.written              # nothing asked again
    arch = open_archive(out)
    assert arch.relpaths == report.written and arch.load_images().shape == (1, 512, 512)


def test_helioviewer_wrong_content_is_refused(server, tmp_path):
    from solarcnn.flare.archive import download_hmi

    base, _ = helioviewer(server)
    with pytest.raises(DataFileError) as err:     # a continuum image answered to a magnetogram request
        download_hmi(tmp_path / "hmi", "2023-01-31T03:30", "2023-01-31T03:30", base_url=base, retries=2,
                     min_interval=0.0, backoff=0.01, progress=False)
    msg = str(err.value)
    assert "HMI.m2023.01.31_03.30.00.jp2" in msg and "CONTINUUM INTENSITY" in msg and "magnetogram" in msg
    assert len(server.requests("/v2/getJP2Image/")) == 2 and not list((tmp_path / "hmi").rglob("*.jpg"))


def test_helioviewer_server_error_is_retried_then_reported(server, tmp_path):
    from solarcnn.flare.archive import download_hmi

    base, _ = helioviewer(server)
    server.fail["/v2/getJP2Image/"] = 2                       # two 500s, then the image
    report = download_hmi(tmp_path / "a", "2023-01-31T03:30", "2023-01-31T03:30", source=18, base_url=base,
                          retries=3, min_interval=0.0, backoff=0.01, progress=False)
    assert len(report.written) == 1
    assert [s for _, s in server.requests("/v2/getJP2Image/")] == [500, 500, 200]
    server.fail["/v2/getClosestImage/"] = 10
    with pytest.raises(DataFileError) as err:
        download_hmi(tmp_path / "b", "2023-01-31T03:30", "2023-01-31T03:30", source=18, base_url=base,
                     retries=3, min_interval=0.0, backoff=0.01, progress=False)
    assert "failed after 3 attempts" in str(err.value) and "HTTP 500" in str(err.value)
    assert "getClosestImage" in str(err.value)


# ------------------------------------------------------------------------------------------------ DeepCAM
def _listing(names):
    rows = "".join(f'<tr><td><a href="{n}">{n}</a></td><td>1M</td></tr>' for n in names)
    return (f'<html><head><title>Index of /</title></head><body><table><tr><th><a href="?C=N;O=D">Name</a></th>'
            f'</tr><tr><td><a href="/project/">Parent Directory</a></td></tr>{rows}</table></body></html>').encode()


@pytest.fixture(scope="module")
def cam5_files(tmp_path_factory):
    from solarcnn.synthetic import get

    folder = tmp_path_factory.mktemp("cam5")
    paths = get("cam5", seed=0, size=(64, 96)).write(folder, 4, progress=False)
    return {p.name: p.read_bytes() for p in paths}


def deepcam_site(server, cam5_files):
    names = sorted(cam5_files)
    prefix = "/project/dasrepo/deepcam/climseg-data-small/"
    stats = real("deepcam_stats", "stats.h5").read_bytes()
    layout = {"train": names[:3], "validation": names[3:]}
    server.routes[prefix] = _listing(["train/", "validation/", "README"])
    for split, members in layout.items():
        server.routes[prefix + split + "/"] = _listing(members + (["stats.h5"] if split == "train" else []))
        for n in members:
            server.routes[prefix + split + "/" + n] = cam5_files[n]
    server.routes[prefix + "train/stats.h5"] = stats
    return server.base + prefix, layout


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_deepcam_index_download_and_archive(server, cam5_files, tmp_path):
    from solarcnn.deepcam.archive import download_small, open_archive, parse_index

    url, layout = deepcam_site(server, cam5_files)
    files, folders = parse_index(server.routes[url[len(server.base):]].decode(), url)
    assert folders == ["train", "validation"] and files == ["README"]
    out = tmp_path / "small"
    report = download_small(out, 2, base_url=url, min_interval=0.0, progress=False)
    assert [p.relative_to(out).as_posix() for p in report.files] == \
        [f"train/{n}" for n in layout["train"][:2]] + [f"validation/{layout['validation'][0]}"]
    assert [p.relative_to(out).as_posix() for p in report.stats] == ["train/stats.h5"]
    for p in report.files:
        assert _sha(p.read_bytes()) == _sha(cam5_files[p.name])
    arch = open_archive(out)
    assert (len(arch.train), len(arch.validation)) == (2, 1) and arch.stats == out.resolve() / "train" / "stats.h5"
    assert arch.dataset("train", batch_size=2)[0][0].shape == (2, 64, 96, 16)


def test_deepcam_interrupted_download_resumes_after_kill_9(server, cam5_files, tmp_path):
    url, layout = deepcam_site(server, cam5_files)
    name = layout["train"][0]
    path = url[len(server.base):] + "train/" + name
    size = len(cam5_files[name])
    half = size // 2
    server.stall[path] = half                          # the first answer stops half-way (and stays open)
    out = tmp_path / "small"
    code = ("import sys; from solarcnn.deepcam.archive import download_small; "
            "download_small(sys.argv[1], 1, base_url=sys.argv[2], splits=('train',), min_interval=0.0, "
            "backoff=0.01, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), url], env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    part = out / "train" / (name + ".part")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and not (part.exists() and part.stat().st_size >= half):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        assert part.exists() and part.stat().st_size == half
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL and not (out / "train" / name).exists()
    del server.stall[path]
    from solarcnn.deepcam.archive import download_small

    report = download_small(out, 1, base_url=url, splits=("train",), min_interval=0.0, progress=False)
    assert report.files == [out / "train" / name] and not part.exists()
    assert _sha((out / "train" / name).read_bytes()) == _sha(cam5_files[name])
    assert server.requests(path) == [(None, 200), (f"bytes={half}-", 206)]   # it continued from the .part


def test_deepcam_corrupted_file_is_detected_and_fetched_again(server, cam5_files, tmp_path):
    from solarcnn.data.resumable import Downloader
    from solarcnn.deepcam.archive import download_small

    url, layout = deepcam_site(server, cam5_files)
    out = tmp_path / "small"
    download_small(out, 1, base_url=url, splits=("train",), min_interval=0.0, progress=False)
    name = layout["train"][0]
    target = out / "train" / name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF                       # one flipped byte: still a valid HDF5 file
    target.write_bytes(bytes(data))
    problems = Downloader(out).verify()
    assert list(problems) == [f"train/{name}"] and "SHA-256" in problems[f"train/{name}"]
    from solarcnn.course.cli import main

    assert main(["archive", "verify", str(out)]) == 1          # the command says so too
    path = url[len(server.base):] + "train/" + name
    assert len(server.requests(path)) == 1
    download_small(out, 1, base_url=url, splits=("train",), min_interval=0.0, progress=False)
    assert server.requests(path) == [(None, 200), (None, 200)]
    assert _sha(target.read_bytes()) == _sha(cam5_files[name]) and Downloader(out).verify() == {}


def test_deepcam_server_error_and_bad_file_are_reported(server, cam5_files, tmp_path):
    from solarcnn.deepcam.archive import download_small

    url, layout = deepcam_site(server, cam5_files)
    name = layout["train"][0]
    path = url[len(server.base):] + "train/" + name
    server.fail[path] = 99
    with pytest.raises(DataFileError) as err:
        download_small(tmp_path / "a", 1, base_url=url, splits=("train",), retries=3, min_interval=0.0,
                       backoff=0.01, progress=False)
    msg = str(err.value)
    assert name in msg and "failed after 3 attempts" in msg and "HTTP 500" in msg
    assert [s for _, s in server.requests(path)] == [500, 500, 500]
    server.fail[path] = 0
    server.routes[path] = b"<html>not an HDF5 file</html>"
    with pytest.raises(DataFileError) as err:
        download_small(tmp_path / "b", 1, base_url=url, splits=("train",), retries=2, min_interval=0.0,
                       backoff=0.01, progress=False)
    assert "fails its check" in str(err.value) and "not a readable HDF5 file" in str(err.value)
    assert not (tmp_path / "b" / "train" / name).exists()
    server.routes[path] = b""
    server.routes[url[len(server.base):] + "train/"] = _listing(["stats.h5"])
    with pytest.raises(DataFileError, match="lists no data-"):
        download_small(tmp_path / "c", 1, base_url=url, splits=("train",), min_interval=0.0, progress=False)


def test_rate_limit_and_404_not_retried(server, tmp_path):
    from solarcnn.data.resumable import Downloader

    server.routes["/a"] = b"x" * 10
    dl = Downloader(tmp_path, min_interval=0.2, backoff=0.01, progress=False)
    t0 = time.monotonic()
    dl.fetch(server.base + "/a", "a1")
    dl.fetch(server.base + "/a", "a2")
    dl.fetch(server.base + "/a", "a3")
    assert time.monotonic() - t0 >= 0.4 and dl.requests == 3
    with pytest.raises(DataFileError, match="HTTP 404"):
        dl.fetch(server.base + "/missing", "m")
    assert len(server.requests("/missing")) == 1
    assert np.all([(tmp_path / f"a{i}").read_bytes() == b"x" * 10 for i in (1, 2, 3)])


def test_server_without_range_support_restarts_the_part_file(server, tmp_path):
    from solarcnn.data.resumable import Downloader

    body = bytes(range(256)) * 40
    server.routes["/f"] = body
    server.no_range.add("/f")
    part = tmp_path / "f.part"
    part.write_bytes(body[:1000] + b"stale bytes of another attempt")     # left by an interrupted run
    Downloader(tmp_path, min_interval=0.0, progress=False).fetch(server.base + "/f", "f")
    assert (tmp_path / "f").read_bytes() == body and not part.exists()
    assert server.requests("/f") == [(f"bytes={1000 + len(b'stale bytes of another attempt')}-", 200)]


def test_a_file_being_downloaded_by_another_process_is_refused(server, tmp_path):
    from solarcnn.data.resumable import Downloader, _FileLock

    server.routes["/g"] = b"y" * 100
    with _FileLock(tmp_path / ".g.lock", tmp_path / "g"):           # what another process's fetch holds
        with pytest.raises(DataFileError, match="another process is downloading this file"):
            Downloader(tmp_path, min_interval=0.0, progress=False).fetch(server.base + "/g", "g")
    assert server.requests("/g") == []
    Downloader(tmp_path, min_interval=0.0, progress=False).fetch(server.base + "/g", "g")   # released: it runs
    assert (tmp_path / "g").read_bytes() == b"y" * 100


def test_archive_download_command(server, cam5_files, tmp_path, capsys):
    from solarcnn.course.cli import main

    url, layout = deepcam_site(server, cam5_files)
    out = tmp_path / "cli"
    assert main(["archive", "download", "deepcam", str(out), "-n", "1", "--splits", "train", "--url", url,
                 "--rate", "0"]) == 0
    assert "1 sample file(s), 1 stats file(s)" in capsys.readouterr().out
    assert (out / "train" / layout["train"][0]).is_file() and (out / "train" / "stats.h5").is_file()
    assert main(["archive", "verify", str(out)]) == 0
    assert "2 of 2 indexed file(s) intact" in capsys.readouterr().out
    assert main(["archive", "check", "deepcam", str(out)]) == 2     # train/ without validation/: named
    assert "no validation/" in capsys.readouterr().err
