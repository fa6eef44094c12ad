"""``ato report``: one self-contained HTML file, opened in a real headless Chromium: what renders
(the differing keys with their provenance, the code diff, the curves as SVG) and that the page
asks nothing of the network."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ato, run_script

SCRIPT = """
from ato.db_routers.sql.manager import SQLLogger
from ato.scope import Scope

scope = Scope()


@scope.observe(default=True)
def defaults(config):
    config.lr = 0.1
    config.note = "<b>factor {factor}</b>"
    config.experiment = {{"project_name": "report", "sql": {{"db_path": "sqlite:///exp.db"}}}}


def helper(x):
    return x * {factor}


@scope.trace(trace_id="train_step")
def train_step(x, lr):
    return helper(x) * lr


@scope
def main(config):
    with SQLLogger(config) as logger:
        logger.run()
        for step in range(50):
            logger.log_metric("loss", 1.0 / (1 + train_step(step, config.lr)), step)


main()
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("needs a chromium binary (Debian: apt-get install chromium; .ci/run installs it)")


def _runs(tmp_path: Path) -> None:
    run_script(tmp_path, SCRIPT.format(factor=2))
    run_script(tmp_path, SCRIPT.format(factor=2), "lr=0.2")  # differs from run 1 by the command line
    run_script(tmp_path, SCRIPT.format(factor=3))  # differs from run 1 in helper()


class _Proxy:
    """A TCP listener that Chromium is told to use as its HTTP proxy: every request the page
    makes for another address comes here, and is counted (and refused)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.requests.append(connection.recv(4096))
                except OSError:
                    self.requests.append(b"?")

    def close(self) -> None:
        self.server.close()

    def page_requests(self) -> list[str]:
        """The hosts asked for, less Chromium's own services: its component updater, sign-in and
        network time, which it asks for whatever page it shows, and no flag fully turns off.
        Only these exact hosts: a page that loads fonts.googleapis.com is still caught."""
        hosts = []
        for request in self.requests:
            target = request.split(b"\r\n")[0].split(b" ")[1:2] or [b"?"]
            host = re.sub(rb"^[a-z]+://", b"", target[0]).split(b"/")[0].split(b":")[0].decode(errors="replace")
            if host not in _BROWSER_SERVICES:
                hosts.append(host)
        return hosts


_BROWSER_SERVICES = frozenset({"update.googleapis.com", "accounts.google.com", "clients2.google.com"})


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    listener = _Proxy()
    yield listener
    listener.close()


def _dump_dom(page: Path, proxy: _Proxy, profile: Path) -> str:
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
         "--disable-features=NetworkTimeServiceQuerying",
         f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.port}",
         "--proxy-bypass-list=<-loopback>", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Chromium's profile, outside tmp_path (whose *.db files the suite verifies as Ato's)."""
    return tmp_path_factory.mktemp("chromium-profile")


def test_the_report_renders_in_chromium_without_the_network(tmp_path: Path, proxy: _Proxy, profile: Path) -> None:
    _chromium()
    _runs(tmp_path)
    result = ato("report", "1", "2", "3", "-o", "report.html", "--db", "sqlite:///exp.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote report.html (runs 1, 2, 3; 1 curve(s))" in result.stdout
    page = (tmp_path / "report.html").read_text()
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", page)  # the SVG's own #references only
    dom = _dump_dom(tmp_path / "report.html", proxy, profile)
    assert proxy.page_requests() == []  # nothing was asked of the network
    assert "Run 1 vs run 2" in dom and "Run 1 vs run 3" in dom
    # the differing key, with the step that set it on each side and its chain of steps
    assert "<code>lr</code>" in dom and "lr=0.2 (cli)" in dom and "defaults (default)" in dom
    assert "lr=0.2 (cli): 0.1 -&gt; 0.2" in dom  # run 2's chain: the default, then the command line
    # the code diff of the changed helper, line by line
    assert "-    return x * 2" in dom and "+    return x * 3" in dom
    assert "<span class=\"add\">+    return x * 3</span>" in dom
    # the curves, inline SVG with the divergence marked, its text readable in the page
    assert dom.count("<svg") == 1 and "run 2 first differs from run 1 at step 1" in dom
    # recorded text is shown as text, never as markup
    assert "&lt;b&gt;factor 3&lt;/b&gt;" in page and "<b>factor" not in page


def test_the_network_check_would_see_a_request(tmp_path: Path, proxy: _Proxy, profile: Path) -> None:
    """The proxy check is not vacuous: a page that does load something from an address is seen."""
    page = tmp_path / "leaky.html"
    page.write_text("<!DOCTYPE html><html><body><img src='http://example.invalid/pixel.png'></body></html>")
    _dump_dom(page, proxy, profile)
    assert "example.invalid" in proxy.page_requests()


def test_report_json_and_errors(tmp_path: Path) -> None:
    _runs(tmp_path)
    data = json.loads(ato("report", "1", "3", "-o", "r.html", "--json", "--db", "sqlite:///exp.db", cwd=tmp_path).stdout)
    assert data["runs"] == [1, 3] and data["curves"] == ["loss"] and data["bytes"] == len((tmp_path / "r.html").read_bytes())
    one = ato("report", "1", "-o", "r.html", "--db", "sqlite:///exp.db", cwd=tmp_path)
    assert one.returncode == 1 and "at least two" in one.stderr
    unknown = ato("report", "1", "9", "-o", "r.html", "--db", "sqlite:///exp.db", cwd=tmp_path)
    assert unknown.returncode == 1 and "9" in unknown.stderr


def test_without_matplotlib_the_report_says_so_in_place_of_the_curves(tmp_path: Path) -> None:
    import os
    import sys

    from tests.conftest import ROOT

    _runs(tmp_path)
    code = "import sys; sys.modules['matplotlib'] = None\nfrom ato.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", code, "report", "1", "2", "-o", "r.html", "--db", "sqlite:///exp.db"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "note: no curves: plotting to a file needs matplotlib: pip install 'ato[plot]'" in result.stdout
    page = (tmp_path / "r.html").read_text()
    assert "<svg" not in page and "ato[plot]" in page and "<code>lr</code>" in page
