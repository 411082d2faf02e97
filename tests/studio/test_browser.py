"""The studio in a real browser: JupyterLab on loopback, driven by headless Chromium.

The test copies 06_studio.ipynb into a temporary folder, starts JupyterLab there (token set,
no browser, quick profile in the kernel), runs all cells, raises the steps, clicks Run,
waits until the preview image changes and three chunks are done, clicks Stop and waits for
the panel to say the run stopped. Screenshots go to pytest's tmp folder (test-artifacts/ only on
failure). Everything started is shut down at the end.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package; the test skips,
saying which is missing, when either is absent, except in CI (CI=true), where .ci/run
installs both and a missing one is a failure rather than a silent skip.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "solutions" / "06_studio.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("NST_LAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STEPS_IN_BROWSER = 5000  # long enough that Stop, not the end of the run, ends it (bf16: ~0.1 s/step)
STEPS_BEFORE_STOP = 6  # three chunks of 2 (the quick profile's k), so the curve has a shape


def _missing(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, which is meant to have everything."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def _requirements() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _missing(f"Debian chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        _missing("JupyterLab is not installed in this environment (pip install jupyterlab)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A JupyterLab server on 127.0.0.1 serving a copy of the studio notebook."""
    _requirements()
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, NST_LAB_QUICK="1", MPLBACKEND="Agg", PYTHONPATH=str(ROOT),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), TF_CPP_MIN_LOG_LEVEL="3")
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={tmp_path}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI containers run as root
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(base, token, server, tmp_path / "lab.log")
        yield base, token
    finally:
        _shutdown(base, token, server)
        log.close()
        if ARTIFACTS.is_dir():  # kept only when the test failed (see below)
            shutil.copy(tmp_path / "lab.log", ARTIFACTS / "lab.log")


def _wait_for_server(base: str, token: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within 90 s:\n{log.read_text()[-2000:]}")


def _shutdown(base: str, token: str, server: subprocess.Popen) -> None:
    """Ask the server to stop (it shuts its kernels down too); kill our own group if it hangs."""
    try:
        request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the group this test started, nothing else
        server.wait(timeout=10)


def _accept_kernel_dialog(page) -> None:
    """JupyterLab 4 may ask which kernel to start; accept the proposed Python 3 kernel."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".jp-Dialog").get_by_role("button", name="Select").click(timeout=10_000)
    except PlaywrightTimeout:
        pass  # no dialog: the kernel started by itself


def test_studio_runs_and_stops_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token = lab
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", wait_until="domcontentloaded")
            page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
            _accept_kernel_dialog(page)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.get_by_text("Run All Cells", exact=True).click()

            run = page.locator("button.widget-button", has_text="Run").first
            run.wait_for(timeout=40_000)  # the kernel imports TensorFlow first
            preview = page.locator("img.nst-preview")
            before = preview.get_attribute("src")
            # exactly "steps": the "steps per update" box also has it in its label
            steps_label = page.locator("label", has_text=re.compile(r"^\s*steps\s*$"))
            steps = page.locator(".widget-text", has=steps_label).locator("input")
            steps.fill(str(STEPS_IN_BROWSER))
            steps.press("Enter")
            run.click()
            page.wait_for_function(
                "old => { const img = document.querySelector('img.nst-preview');"
                " return img && img.getAttribute('src') && img.getAttribute('src') !== old; }",
                arg=before, timeout=120_000)
            page.wait_for_function(  # the label reads "step N/EPOCHS, cost ..."; chunks may skip N
                "args => [...document.querySelectorAll('.widget-label')].some(el => {"
                " const m = el.textContent.match(/^step (\\d+)\\/(\\d+)/);"
                " return m && +m[2] === args[1] && +m[1] >= args[0]; })",
                arg=[STEPS_BEFORE_STOP, STEPS_IN_BROWSER], timeout=60_000)
            page.locator("button.widget-button", has_text="Stop").first.click()
            status = page.get_by_text("stopped after")
            status.wait_for(timeout=60_000)
            text = status.first.inner_text()
            panel = page.locator(".jp-OutputArea-output", has=preview)
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(tmp_path / "studio.png"))  # pytest's tmp folder: nothing left in the repo
            page.screenshot(path=str(tmp_path / "studio-page.png"))
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)  # a failure keeps what the browser showed, for CI's log
            page.screenshot(path=str(ARTIFACTS / "studio-failure.png"))
            raise
        finally:
            browser.close()
    steps = int(text.split("stopped after", 1)[1].split()[0])
    assert STEPS_BEFORE_STOP <= steps < STEPS_IN_BROWSER, text  # the click landed between chunks
    assert f"of {STEPS_IN_BROWSER} steps" in text
    print(f"browser part took {time.monotonic() - started:.1f} s; {text}")
