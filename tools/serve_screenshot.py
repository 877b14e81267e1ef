"""The search page's screenshot for the user guide, and the helpers the serving tests share:
``deephash serve`` as a subprocess on 127.0.0.1, and headless Debian Chromium under Selenium.

    PYTHONPATH=python python tools/serve_screenshot.py COL QUERY_IMAGE docs/img/search-page.png [-k 8]

Serves COL on a free 127.0.0.1 port, uploads QUERY_IMAGE through the page, waits until every
result thumbnail has loaded, and saves the window as a PNG with a reduced palette (small enough
to commit). Nothing is downloaded: Chromium and chromedriver are the system's
(``apt-get install chromium chromium-driver``) and Selenium Manager stays offline.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def have_chromium() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def serve(collection, *args: str, timeout: float = 120.0):
    """Runs ``python -m deephash serve COLLECTION --port 0 ARGS`` and yields its base URL
    (``http://127.0.0.1:PORT/``) once ``/health`` answers; stops it on exit."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with tempfile.TemporaryFile(mode="w+") as err:
        cmd = [sys.executable, "-m", "deephash", "serve", str(collection), "--port", "0", "--log-level", "warning"]
        proc = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        try:
            line = proc.stdout.readline()  # the server prints its URL first (or exits)
            m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if not m:
                proc.wait(timeout=30)
                err.seek(0)
                raise RuntimeError(f"deephash serve did not start (exit {proc.returncode}): {line}{err.read()}")
            url = m.group(1)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    get_json(url + "health", timeout=5)
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err.seek(0)
                        raise RuntimeError(f"deephash serve never answered /health: {err.read()}") from None
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def chromium_driver(width: int = 1100, height: int = 800):
    """Headless Chromium at the system paths; Selenium Manager never runs (nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # should Selenium Manager ever be asked, it stays offline
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    # The viewport itself width x height (the window size includes the browser's frame).
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return driver


#: (id, distance text, path, thumbnail loaded, thumbnail URL) of each result card, read in one
#: script run (the page may replace the cards between two WebDriver calls).
READ_RESULTS = """
return Array.from(document.querySelectorAll('#results .result')).map(card => {
  const img = card.querySelector('img.thumb');
  return [Number(card.dataset.id), card.querySelector('.distance').textContent,
          card.querySelector('.path').textContent, !!img && img.complete && img.naturalWidth > 0,
          img ? img.src : null];
});
"""


def results(driver):
    return [tuple(r) for r in driver.execute_script(READ_RESULTS)]


def screenshot(collection, query, out, k: int = 8, width: int = 1100, height: int = 760, colors: int = 96) -> Path:
    """Saves the page after searching with ``query`` (an image file) as a palette PNG at ``out``."""
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = Path(out)
    with serve(collection, "-k", str(k)) as url:
        driver = chromium_driver(width, height)
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 120)
            wait.until(lambda d: d.find_element(By.ID, "drop").is_displayed())  # /health answered
            driver.find_element(By.ID, "file").send_keys(str(Path(query).resolve()))
            wait.until(lambda d: len(results(d)) == k and all(r[3] for r in results(d)))
            png = driver.get_screenshot_as_png()
        finally:
            driver.quit()
    im = Image.open(io.BytesIO(png)).convert("RGB")
    out.parent.mkdir(parents=True, exist_ok=True)
    im.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("collection")
    p.add_argument("query", help="an image file to search with")
    p.add_argument("out", help="the PNG to write")
    p.add_argument("-k", type=int, default=8)
    p.add_argument("--width", type=int, default=1100)
    p.add_argument("--height", type=int, default=760)
    args = p.parse_args(argv)
    if not have_chromium():
        print(f"needs {CHROMIUM} and {CHROMEDRIVER}: apt-get install chromium chromium-driver", file=sys.stderr)
        return 2
    out = screenshot(args.collection, args.query, args.out, args.k, args.width, args.height)
    print(f"{out}: {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
