"""Helioviewer client against a loopback HTTP server serving a real JP2 file from the mirror."""
import hashlib
import http.server
import threading
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from solarcnn.errors import ChecksumError, DataFileError
from solarcnn.flare.helioviewer import (HelioviewerClient, closest_image_url, jp2_request_url, parse_closest_image,
                                        request_times, within_tolerance)

from pathlib import Path



def real(dataset, relpath):
    """A real file through the data registry (the tests' mirror stands in for the network). A registry
    error fails the test: falling back to a machine path or skipping would hide it."""
    from solarcnn.data import fetch

    return Path(fetch(dataset, relpath))


@pytest.fixture
def server():
    body = real("helioviewer_jp2", "2023_01_31__03_39_23_200__SDO_HMI_HMI_continuum.jp2").read_bytes()
    state = {"fail_first": 0, "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["requests"].append(self.path)
            if state["fail_first"] > 0:
                state["fail_first"] -= 1
                self.send_response(503)
                self.end_headers()
                return
            q = parse_qs(urlparse(self.path).query)
            if not self.path.startswith("/v2/getJP2Image/") or q.get("sourceId") != ["19"]:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jp2")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["base"] = f"http://127.0.0.1:{httpd.server_address[1]}/v2/"
    state["sha256"] = hashlib.sha256(body).hexdigest()
    yield state
    httpd.shutdown()


def test_urls_and_grid():
    assert jp2_request_url("2011-01-27T01:00:00") == \
        "https://api.helioviewer.org/v2/getJP2Image/?date=2011-01-27T01%3A00%3A00Z&sourceId=19"
    assert "getClosestImage" in closest_image_url("2011-01-27T01:00:00", "hmi_continuum")
    assert len(request_times("2011-01-01T00:00", "2011-01-01T01:00")) == 6
    assert within_tolerance("2011-01-01T00:00:00", "2011-01-01T00:12:00")
    assert not within_tolerance("2011-01-01T00:00:00", "2011-01-01T00:12:01")
    assert parse_closest_image('{"date": "2011-01-01 00:11:30", "id": 7}') == np.datetime64("2011-01-01T00:11:30")
    with pytest.raises(DataFileError, match="not a getClosestImage answer"):
        parse_closest_image("<html>", source_url="http://x/getClosestImage")
    with pytest.raises(ValueError, match="unknown source 'hmi_x'"):
        jp2_request_url("2011-01-01", "hmi_x")


def test_download_with_retry_and_checksum(server, tmp_path):
    from solarcnn.flare.images import read_jp2

    client = HelioviewerClient(tmp_path, base_url=server["base"], retries=3, backoff=0.01)
    server["fail_first"] = 1                                   # first request answers 503
    path = client.fetch("2011-01-27T01:00:00", sha256=server["sha256"])
    assert path == tmp_path / "2011/01/27/HMI.m2011.01.27_01.00.00.jp2"
    assert len(server["requests"]) == 2
    assert hashlib.sha256(path.read_bytes()).hexdigest() == server["sha256"]
    assert read_jp2(path).shape == (512, 512)
    client.fetch("2011-01-27T01:00:00", sha256=server["sha256"])   # cached: no new request
    assert len(server["requests"]) == 2


def test_checksum_mismatch_is_an_error(server, tmp_path):
    client = HelioviewerClient(tmp_path, base_url=server["base"], retries=2, backoff=0.01)
    with pytest.raises(ChecksumError) as err:
        client.fetch("2011-01-27T02:00:00", sha256="0" * 64)
    assert "HMI.m2011.01.27_02.00.00.jp2" in str(err.value) or "sha" in str(err.value).lower()
    assert not (tmp_path / "2011/01/27/HMI.m2011.01.27_02.00.00.jp2").exists()
