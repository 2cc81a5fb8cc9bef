"""The docs site: ``bash docs/build.sh OUTDIR`` builds it (once per test session, shared by the
xdist workers under a file lock), and headless Chromium opens its pages over a local HTTP server
through the DevTools protocol: no raw TeX, no broken image, no console error, formulas typeset.

Screenshots go to ``$LOSSKIT_DOCS_SCREENSHOTS`` (e.g. ``docs/_screenshots``) or a temporary folder.
Without the ``[docs]`` extra or Chromium these tests skip, except in CI (``CI`` set), where they fail.
"""

import base64
import functools
import http.server
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

import losskit as lk

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
from loss_math import MATH  # noqa: E402

PAGES = ["index.html", "course.html", "course_ko.html", "losses/binary_cross_entropy.html", "losses/dice.html",
         "losses/kl_divergence.html", "coming_from_pytorch.html", "performance.html"]
RAW_TEX = ("\\frac", "$$", "\\(", "\\[", "\\sum", "\\log", "\\begin")


def _missing(what):
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must have it: see .ci/run)")
    pytest.skip(what)


def test_every_registered_loss_has_formulas():
    assert set(MATH) == set(lk.available(aliases=False))
    for name, entry in MATH.items():
        assert len(entry) == 4 and all(entry), name
        for tex in entry[:2]:
            assert tex.count("{") == tex.count("}"), f"{name}: unbalanced braces in {tex!r}"


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    for module in ("sphinx", "myst_parser", "mathjax", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            _missing(f"the docs build needs {module}: pip install -e '.[docs]'")
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's folder, the same for every xdist worker
    out = shared / "docs_site"
    with FileLock(str(shared / "docs_site.lock")):
        if not (out / "index.html").exists():
            shutil.rmtree(out, ignore_errors=True)
            run = subprocess.run(["bash", str(ROOT / "docs" / "build.sh"), str(out)], capture_output=True, text=True,
                                 env={**os.environ, "PYTHON": sys.executable})
            assert run.returncode == 0, f"docs build failed:\n{run.stdout}\n{run.stderr}"
    return out


def test_site_has_every_page_and_serves_mathjax_itself(site):
    for page in PAGES + [f"losses/{name}.html" for name in lk.available(aliases=False)]:
        assert (site / page).is_file(), page
    for name in lk.available(aliases=False):
        html = (site / "losses" / f"{name}.html").read_text()
        assert re.search(r'<img [^>]*src="[^"]*\.png"', html), f"{name}: no plot"
        assert 'class="math' in html, f"{name}: no formula"
    for page in site.rglob("*.html"):
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', page.read_text())
        assert not [s for s in scripts if "//" in s], f"{page.name} loads a script from the network: {scripts}"
    assert (site / "_static" / "mathjax" / "tex-svg.js").is_file()


def test_course_pages_show_the_numbers_of_the_library(site):
    import numpy as np

    # the BCE lesson's example: the naive formula gives nan, losskit the value computed here
    y, p = np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.9, 0.1])
    expected = -np.mean(np.log(np.array([1.0, 1.0, 0.9, 0.9])))
    for page in ("course.html", "course_ko.html"):
        text = (site / page).read_text()
        assert f"{expected:.6g}" in text and "nan" in text, page
    assert f"{float(lk.binary_cross_entropy(y, p)):.6g}" == f"{expected:.6g}"


# -- the browser ----------------------------------------------------------------------------------
class _Chrome:
    """Headless Chromium driven through the DevTools protocol (websocket-client), offline."""

    def __init__(self, binary, profile):
        import websocket

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile}",
             "--window-size=1280,1600", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = pathlib.Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline and self.proc.poll() is None, "Chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0
        self.events = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]
            self.events.append(msg)

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def open(self, url):
        self.events = []
        self.call("Page.navigate", url=url)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(json.loads(self.ws.recv()))
        # MathJax typesets asynchronously (its script is deferred): wait for it
        self.eval("new Promise(r => { const go = () => window.MathJax && MathJax.startup && MathJax.startup.promise"
                  " ? MathJax.startup.promise.then(() => r(1)) : document.querySelector('.math') ? setTimeout(go, 50)"
                  " : r(0); go(); })")
        self.eval("document.fonts.ready.then(() => 1)")

    def errors(self):
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                if not params["entry"].get("url", "").endswith("favicon.ico"):
                    out.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
        return out

    def screenshot(self, path):
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": 1280, "height": min(size["height"], 5000), "scale": 0.75}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        pathlib.Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_pages_render_in_chromium(site, tmp_path):
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if binary is None:
        _missing("no Chromium: apt-get install chromium fonts-noto-cjk")
    if importlib.util.find_spec("websocket") is None:
        _missing("the browser test needs websocket-client: pip install -e '.[docs]'")
    shots = pathlib.Path(os.environ.get("LOSSKIT_DOCS_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    chrome = _Chrome(binary, tempfile.mkdtemp(dir=tmp_path))
    problems = []
    try:
        for page in PAGES:
            chrome.open(f"http://127.0.0.1:{server.server_port}/{page}")
            text = chrome.eval("document.body.innerText")
            raw = [t for t in RAW_TEX if t in text]
            broken = chrome.eval("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            math = chrome.eval("document.querySelectorAll('.math').length")
            typeset = chrome.eval("document.querySelectorAll('mjx-container').length")
            tex_errors = chrome.eval("document.querySelectorAll('mjx-container [data-mml-node=\"merror\"], mjx-container [fill=\"red\"]').length")
            errors = chrome.errors()
            chrome.screenshot(shots / (page.replace("/", "_").replace(".html", ".png")))
            if raw or broken or errors or tex_errors or (math and not typeset):
                problems.append(f"{page}: raw TeX {raw}, broken images {broken}, console errors {errors}, "
                                f"TeX errors {tex_errors}, {math} formulas / {typeset} typeset")
    finally:
        chrome.close()
        server.shutdown()
    assert not problems, "\n".join(problems)
