"""Checking the built book in headless Chromium: what a reader would see."""
from __future__ import annotations

import html as _html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...errors import DataFileError
from ._base import CHROMIUM_FLAGS, CHROMIUM_NAMES, CHROMIUM_VAR, BookError


def find_chromium() -> str:
    """The Chromium binary: ``$SOLARCNN_CHROMIUM`` or the first of chromium / google-chrome on PATH."""
    env = os.environ.get(CHROMIUM_VAR)
    if env:
        if not Path(env).is_file():
            raise BookError(f"${CHROMIUM_VAR} names {env}, which does not exist")
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BookError("no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES) + "); install it, e.g. "
                    "`apt-get install -y chromium`, or set $" + CHROMIUM_VAR)


_TAG_ATTR_RE = {
    "script": re.compile(r"<script\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.I),
    "link": re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"']([^\"']+)[\"']", re.I),
}


def remote_resources(html_text: str) -> list[str]:
    """``<script src>`` / ``<link href>`` URLs that point off the machine (http:, https:, //)."""
    bad = []
    for tag, rx in _TAG_ATTR_RE.items():
        for url in rx.findall(html_text):
            url = _html.unescape(url).strip()
            if re.match(r"^(https?:)?//", url, re.I) or re.match(r"^(ftp|ws|wss):", url, re.I):
                bad.append(f"<{tag}> {url}")
    return bad


_ERROR_CLASS_RE = re.compile(r"class\s*=\s*\"[^\"]*\b(output\b[^\"]*\b(error|traceback)|"
                             r"(error|traceback)\b[^\"]*\boutput)\b[^\"]*\"", re.I)
_IMG_RE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*\"([^\"]+)\"", re.I)


def dom_problems(dom: str, *, expect_figure: bool, expect_math: bool | None) -> tuple[dict, list[str]]:
    """Inspect a DOM dump; return (facts, problems).

    Facts: the ``<title>``, the first ``<h1>``, image sources, the number of typeset
    MathJax elements and of raw math elements. ``expect_math=None`` means "if the
    page has math, it must be typeset".
    """
    problems = []
    m = re.search(r"<title>(.*?)</title>", dom, re.S | re.I)
    title = _html.unescape(re.sub(r"\s+", " ", m.group(1))).strip() if m else ""
    m = re.search(r"<h1\b[^>]*>(.*?)</h1>", dom, re.S | re.I)
    h1 = _html.unescape(re.sub(r"<[^>]+>|\s+", " ", m.group(1))).replace("#", "").strip() if m else ""
    images = _IMG_RE.findall(dom)
    figures = [s for s in images if "logo" not in s.lower()]
    n_typeset = len(re.findall(r"<mjx-container\b", dom, re.I))
    n_math = len(re.findall(r"class=\"[^\"]*\bmath\b[^\"]*\"", dom, re.I))
    facts = {"title": title, "h1": h1, "images": figures, "mathjax": n_typeset, "math_elements": n_math}
    if not title:
        problems.append("no <title>")
    if not h1:
        problems.append("no <h1> heading")
    if _ERROR_CLASS_RE.search(dom):
        problems.append("an error/traceback output is shown")
    if "Traceback (most recent call last)" in dom:
        problems.append("a Python traceback is shown")
    if expect_figure and not figures:
        problems.append("no <img> figure on the page")
    if expect_math and n_typeset == 0:
        problems.append("no typeset math (MathJax did not run)")
    if expect_math is None and n_math and n_typeset == 0:
        problems.append(f"{n_math} math elements but none typeset (MathJax did not run)")
    if n_typeset and re.search(r"<mjx-merror\b", dom, re.I):
        problems.append("MathJax reported a TeX error")
    problems += [f"off-machine resource in the page: {u}" for u in remote_resources(dom)]
    return facts, problems


def screenshot_problems(png: Path) -> tuple[dict, list[str]]:
    """Check that a screenshot exists and is not blank (a single colour or nearly so)."""
    if not png.is_file() or png.stat().st_size == 0:
        return {}, [f"no screenshot written ({png})"]
    import numpy as np
    from PIL import Image

    try:
        with Image.open(png) as im:
            arr = np.asarray(im.convert("L"), dtype=np.float32)
    except Exception as exc:           # noqa: BLE001 - report any decoding failure
        return {}, [f"{png}: not a readable PNG ({exc})"]
    facts = {"size": (arr.shape[1], arr.shape[0]), "std": float(arr.std()),
             "dark_fraction": float((arr < 128).mean())}
    problems = []
    if arr.std() < 5 or facts["dark_fraction"] < 0.002:
        problems.append(f"{png}: the screenshot is blank (grey-level std {arr.std():.1f}, "
                        f"{100 * facts['dark_fraction']:.2f} % dark pixels)")
    return facts, problems


def check_in_browser(html_path: str | os.PathLike, *, expect_figure: bool = False, expect_math: bool | None = None,
                     expect_title: str | None = None, screenshot: str | os.PathLike | None = None,
                     window_size: tuple[int, int] = (1280, 900), chromium: str | None = None,
                     timeout: float = 120) -> dict:
    """Open one built page in headless Chromium and check that it renders.

    Checks the DOM after scripts ran (``--dump-dom``): a ``<title>`` and an ``<h1>``,
    no error or traceback output, a figure ``<img>`` whose file exists (if
    `expect_figure`), typeset MathJax (if `expect_math`, or whenever the page has
    math when it is None), and no ``<script>``/``<link>`` pointing off the machine
    (in the DOM and the HTML file). Then takes a screenshot and checks it is not blank.

    Args:
        html_path: the page (``.../_build/html/index.html`` or a notebook's page).
        expect_figure: require at least one figure image.
        expect_math: True require typeset math; False do not; None: typeset if present.
        expect_title: a string the ``<title>`` must contain.
        screenshot: where to write the PNG (default a temporary file, removed).
        window_size: the browser window, pixels.
        chromium: the binary (default `find_chromium`).
        timeout: seconds for each Chromium call.

    Returns:
        a dict of what was found (title, h1, images, mathjax count, screenshot facts).

    Raises:
        BookError: listing every problem found.
    """
    page = Path(html_path).resolve()
    if not page.is_file():
        raise DataFileError(page, "the page does not exist; build the book first (solarcnn book)")
    chromium = chromium or find_chromium()
    url = page.as_uri()
    problems = [f"off-machine resource in the HTML file: {u}"
                for u in remote_resources(page.read_text(encoding="utf-8", errors="replace"))]
    with tempfile.TemporaryDirectory(prefix="solarcnn-chromium-") as tmp:
        flags = CHROMIUM_FLAGS + [f"--user-data-dir={tmp}/profile", f"--window-size={window_size[0]},{window_size[1]}"]
        probe = _probe_copy(page)
        try:
            proc = subprocess.run([chromium, *flags, "--dump-dom", probe.as_uri()], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BookError(f"{page}: Chromium did not finish --dump-dom within {timeout:.0f} s") from None
        finally:
            probe.unlink(missing_ok=True)
        dom = proc.stdout
        if proc.returncode != 0 or "<html" not in dom.lower():
            raise BookError(f"{page}: Chromium --dump-dom failed (exit {proc.returncode}):\n"
                            + "\n".join(proc.stderr.splitlines()[-15:]))
        facts, more = dom_problems(dom, expect_figure=expect_figure, expect_math=expect_math)
        problems += more
        missing = [s for s in facts["images"] if not s.startswith("data:") and not _local_file(page, s)]
        problems += [f"figure file missing: {s}" for s in missing]
        probe_facts, more = probe_problems(dom)
        facts.update(probe_facts)
        problems += more
        if expect_figure and not probe_facts.get("images_loaded"):
            problems.append("no figure image was decoded by the browser")
        if expect_title and expect_title not in facts["title"]:
            problems.append(f"title {facts['title']!r} does not contain {expect_title!r}")
        shot = Path(screenshot).resolve() if screenshot else Path(tmp) / "page.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.unlink(missing_ok=True)
        try:
            proc = subprocess.run([chromium, *flags, f"--screenshot={shot}", url], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BookError(f"{page}: Chromium did not finish --screenshot within {timeout:.0f} s") from None
        shot_facts, more = screenshot_problems(shot)
        problems += more
    facts["screenshot"] = {**shot_facts, "path": str(shot) if screenshot else None}
    facts["page"] = str(page)
    if problems:
        raise BookError(f"{page} does not render as it should:\n- " + "\n- ".join(problems))
    return facts


# Injected into a temporary copy of the page (same folder, so relative links hold) before --dump-dom:
# records resources that failed to load, script errors, and which images the browser decoded.
_PROBE_HEAD = """<script data-solarcnn-probe>
window.__solarcnnFailures = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__solarcnnFailures.push(t.src || t.href ? 'failed to load ' + (t.src || t.href)
                                                 : 'script error: ' + (e.message || '?'));
}, true);
</script>"""
_PROBE_BODY = """<script data-solarcnn-probe>
function __solarcnnReport() {
  var out = document.getElementById('solarcnn-probe') || document.createElement('pre');
  out.id = 'solarcnn-probe';
  out.hidden = true;
  // figures only: the theme's logos (the launch buttons' Binder and Colab logos too) are not counted
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img')).filter(function (im) {
    return !/logo/i.test(im.getAttribute('src') || ''); });
  var loaded = imgs.filter(function (im) { return im.complete && im.naturalWidth > 0; }).length;
  out.textContent = JSON.stringify({images_total: imgs.length, images_loaded: loaded,
                                    failures: window.__solarcnnFailures});
  document.body.appendChild(out);
}
window.addEventListener('load', function () { __solarcnnReport(); setTimeout(__solarcnnReport, 3000); });
</script>"""


def _probe_copy(page: Path) -> Path:
    text = page.read_text(encoding="utf-8", errors="replace")
    head = re.search(r"<head\b[^>]*>", text, re.I)
    body = text.lower().rfind("</body>")
    if not head or body < 0:
        raise BookError(f"{page}: not an HTML page with <head> and </body>")
    text = text[:body] + _PROBE_BODY + text[body:]
    text = text[:head.end()] + _PROBE_HEAD + text[head.end():]
    probe = page.with_name(f".solarcnn-probe-{os.getpid()}-{page.name}")
    probe.write_text(text, encoding="utf-8")
    return probe


def probe_problems(dom: str) -> tuple[dict, list[str]]:
    """Read the probe's report (failed resources, script errors, decoded images) from a DOM dump."""
    m = re.search(r"<pre\b[^>]*id=\"solarcnn-probe\"[^>]*>(.*?)</pre>", dom, re.S)
    if not m:
        return {}, ["the page's scripts did not finish (no load event within the time budget)"]
    try:
        report = json.loads(_html.unescape(m.group(1)))
    except json.JSONDecodeError:
        return {}, ["unreadable probe report"]
    failures = report.pop("failures", [])
    report["load_failures"] = failures
    return report, [f"in the browser: {f}" for f in failures]


def _local_file(page: Path, src: str) -> bool:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(src)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).is_file()
    if parsed.scheme:
        return False
    return (page.parent / unquote(parsed.path)).is_file()


def check_book(index_html: str | os.PathLike, *, notebook: str | None = None, all_pages: bool = False,
               screenshot_dir: str | os.PathLike | None = None, **kw) -> dict:
    """Check the index page and one notebook page in Chromium (or every page).

    The notebook page is `notebook` (a stem such as ``"01_solar_fits_data_prep"``) or
    the first page of the book that holds a figure; it must show a decoded figure.
    With `all_pages`, every other page (each notebook, results, instructors) is
    checked too, without requiring a figure. Returns ``{page name: facts}``.
    """
    index = Path(index_html)
    html_dir = index.parent
    shots = Path(screenshot_dir) if screenshot_dir else None
    report = {"index": check_in_browser(index, screenshot=shots / "index.png" if shots else None, **kw)}
    stems = sorted(p.stem for p in html_dir.glob("[0-9][0-9]_*.html"))
    if notebook is None:
        with_fig = [s for s in stems if re.search(r"<img\b[^>]*src=\"_images/",
                                                  (html_dir / f"{s}.html").read_text(errors="replace"))]
        if not with_fig:
            raise BookError(f"{html_dir}: no notebook page has a figure ({len(stems)} notebook pages)")
        notebook = with_fig[0]
    page = html_dir / f"{notebook}.html"
    report[notebook] = check_in_browser(page, expect_figure=True,
                                        screenshot=shots / f"{notebook}.png" if shots else None, **kw)
    if all_pages:
        others = [p for p in sorted(html_dir.glob("*.html"))
                  if p.stem not in report and p.stem not in ("genindex", "search") and p != index]
        for other in others:
            report[other.stem] = check_in_browser(other, screenshot=shots / f"{other.stem}.png" if shots else None,
                                                  **kw)
    return report

