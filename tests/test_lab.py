"""Issue 31: the analyst's notebooks in a real JupyterLab, as root too. ``make lab`` starts
it (``--allow-root`` added when root; ``LAB_DIR`` and ``LAB_ARGS`` pass the folder and
options); headless Chromium opens notebooks 01 and 04, runs all their cells through
JupyterLab's own command and saves them; the saved files show every cell run and no error.
A notebook given a bad override shows the command line's one-line error, no traceback."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

needs_browser = pytest.mark.skipif(
    shutil.which("chromedriver") is None or
    (shutil.which("chromium") or shutil.which("chromium-browser")) is None,
    reason="no headless Chromium and chromedriver (install them with `make chromium`)")

TOKEN = "lab-test-token"
RUN_ALL = """
const done = arguments[arguments.length - 1];
const app = window.jupyterapp, w = app.shell.currentWidget;
(async () => {
  await w.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
  for (let i = 0; i < 1200; i++) {  // until the kernel is idle and no cell waits
    await new Promise(r => setTimeout(r, 500));
    const busy = w.sessionContext.session.kernel.status !== 'idle';
    const queued = [...w.content.node.querySelectorAll('.jp-InputPrompt')]
      .some(p => p.textContent.includes('*'));
    if (!busy && !queued) break;
  }
  await app.commands.execute('docmanager:save');
  done('saved');
})().catch(e => done('error: ' + e));
"""
READY = ("const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
         "return !!(w && w.context && w.context.path === arguments[0] && w.sessionContext"
         " && w.sessionContext.session && w.sessionContext.session.kernel)")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``make lab`` on a copy of notebooks/ (the committed notebooks stay without outputs)
    beside the project's data and parameters."""
    home = tmp_path_factory.mktemp("lab")
    (home / "notebooks").mkdir()
    (home / "outputs").mkdir()
    for name in ("data", "params"):
        (home / name).symlink_to(ROOT / name)
    for nb in ("01_data_cleaning", "04_clv"):
        shutil.copy(ROOT / "notebooks" / f"{nb}.ipynb", home / "notebooks")
    bad = json.loads((ROOT / "notebooks" / "04_clv.ipynb").read_text())
    first = next(c for c in bad["cells"] if "parameters" in c["metadata"].get("tags", []))
    first["source"] = "".join(first["source"]).replace(
        "overrides = {}", 'overrides = {"time_unit": "fortnight"}')
    (home / "notebooks" / "bad_override.ipynb").write_text(json.dumps(bad))
    port = _port()
    proc = subprocess.Popen(
        ["make", "-C", str(ROOT), "lab", f"LAB_DIR={home / 'notebooks'}",
         f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --port={port} "
         f"--ServerApp.token={TOKEN} --LabApp.expose_app_in_browser=True"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode()[-3000:])
            time.sleep(0.5)
    yield url, home / "notebooks"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--window-size=1280,900",
                f"--user-data-dir={tmp_path_factory.mktemp('lab-chrome')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_script_timeout(600)
    yield driver
    driver.quit()


def _run_all(browser, url, name, folder) -> list[dict]:
    browser.get(f"{url}/lab/tree/{name}?token={TOKEN}")
    for _ in range(240):  # this notebook open, its kernel started
        if browser.execute_script(READY, name):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"{name} did not open in JupyterLab")
    assert browser.execute_async_script(RUN_ALL) == "saved"
    saved = json.loads((folder / name).read_text())
    return [c for c in saved["cells"] if c["cell_type"] == "code"]


@needs_browser
@pytest.mark.parametrize("name", ["01_data_cleaning.ipynb", "04_clv.ipynb"])
def test_notebooks_run_in_jupyterlab_without_an_error(lab, browser, name):
    url, folder = lab
    cells = _run_all(browser, url, name, folder)
    assert all(c["execution_count"] for c in cells), name  # every cell ran
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, [e["evalue"][:300] for e in errors]
    shown = [o for c in cells for o in c["outputs"] if o["output_type"] == "display_data"]
    assert any("image/png" in o["data"] for o in shown)  # figures drawn
    assert any("text/markdown" in o["data"] for o in shown)  # the notebook's words


@needs_browser
def test_a_bad_override_is_one_line_in_jupyterlab(lab, browser):
    url, folder = lab
    cells = _run_all(browser, url, "bad_override.ipynb", folder)
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["traceback"] == [
        "error: parameter 'time_unit' must be one of 'day', 'week', got 'fortnight'. "
        "(file overrides (this notebook's parameters cell), column 'time_unit')"]
