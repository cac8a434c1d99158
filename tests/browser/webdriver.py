"""A minimal W3C WebDriver client for headless Chromium: chromedriver over plain HTTP.

No driver package: the test needs six commands (new session, navigate, run a script, a
screenshot, a DevTools call, end session), each one JSON request to chromedriver
(https://www.w3.org/TR/webdriver2/). Pages are read and driven by scripts run in the page
(an element a script returns comes back as a reference that later scripts take as argument),
so a wait and the click after it are one script, and no click lands on a moved element.

Chromium and chromedriver are the distribution's packages, installed by scripts/setup.sh;
where it could not install them it wrote why to SETUP_MISSING_NOTE, which `find_binaries`
reports so the test skips naming the cause.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from tests.browser.processes import free_port, stop_group, wait_until

REPO = Path(__file__).resolve().parents[2]
SETUP_MISSING_NOTE = REPO / ".venv" / ".chromium-missing"  # written by scripts/setup.sh: why it is absent
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)
VIEWPORT = (1280, 800)  # the screenshots' size: small, and wide enough for Dagster's side panels


def find_binaries(note: Path = SETUP_MISSING_NOTE) -> tuple[str, str] | str:
    """(browser, driver) paths on PATH, or why they are missing: setup's `note` when it left one."""
    browser = next(filter(None, map(shutil.which, BROWSER_NAMES)), None)
    driver = next(filter(None, map(shutil.which, DRIVER_NAMES)), None)
    if browser and driver:
        return browser, driver
    absent = " and ".join(name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path)
    why = note.read_text().strip() if note.is_file() else "scripts/setup.sh did not say why (has it run?)"
    return f"{absent} not installed: {why}"


class WebDriverError(RuntimeError):
    pass


class Browser:
    """One chromedriver session; `script` runs JavaScript in the page (`return ...` gives a value)."""

    def __init__(self, driver_url: str, session_id: str) -> None:
        self.base = f"{driver_url}/session/{session_id}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        return call(method, self.base + path, body, timeout)

    def goto(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def script(self, source: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait_for(self, source: str, what: str, *args: Any, timeout: float = 60) -> Any:
        """Polls script `source` until it returns something truthy, which it returns; fails
        after `timeout` seconds naming `what` and the page's visible text."""
        found = wait_until(lambda: self.script(source, *args), timeout=timeout)
        if not found:
            text = self.script("return document.body ? document.body.innerText.slice(0, 1500) : ''")
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; page text:\n{text}")
        return found

    def devtools(self, command: str, params: dict[str, Any]) -> Any:
        """A Chrome DevTools Protocol command, through chromedriver's extension endpoint."""
        return self._call("POST", "/goog/cdp/execute", {"cmd": command, "params": params})

    def screenshot(self, path: Path) -> None:
        """The viewport as PNG at `path`, in 256 colours: a UI's few colours survive, and
        the files stay small enough to commit (about a third of the size)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.open(io.BytesIO(base64.b64decode(self._call("GET", "/screenshot"))))
        image.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)

    def close(self) -> None:
        self._call("DELETE", "")


def call(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    """One WebDriver command; its `value`, or WebDriverError with the driver's message."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)["value"]
    except urllib.error.HTTPError as error:
        value = json.load(error).get("value", {})
        raise WebDriverError(f"{method} {url}: {value.get('error')}: {value.get('message', '')[:500]}") from None


def driver_ready(url: str) -> bool:
    try:
        return bool(call("GET", f"{url}/status", timeout=2).get("ready"))
    except (OSError, WebDriverError):
        return False


@contextmanager
def headless_chromium(browser_path: str, driver_path: str, log_path: Path) -> Iterator[Browser]:
    """chromedriver on a free loopback port, one headless session with a VIEWPORT-sized page;
    both end on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        driver = subprocess.Popen(
            [driver_path, f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop_group ends it and its browsers
        )
    try:
        started = wait_until(lambda: driver.poll() is not None or driver_ready(url), timeout=30)
        if not started or driver.poll() is not None:
            raise WebDriverError(f"chromedriver did not start; its log: {log_path.read_text()[-2000:]}")
        width, height = VIEWPORT
        args = [
            "--headless=new",
            "--no-sandbox",  # the setup may run as root, where Chromium's sandbox refuses to start
            "--disable-dev-shm-usage",  # containers' /dev/shm is small
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={width},{height}",
            "--lang=en-US",
        ]
        capabilities = {"browserName": "chrome", "goog:chromeOptions": {"binary": browser_path, "args": args}}
        session = call("POST", f"{url}/session", {"capabilities": {"alwaysMatch": capabilities}}, timeout=120)
        browser = Browser(url, session["sessionId"])
        try:
            # The window's size includes no browser chrome in headless mode, but pin the page's size.
            browser.devtools(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            yield browser
        finally:
            try:
                browser.close()
            except (OSError, WebDriverError):
                pass  # the group stop below ends the browser either way
    finally:
        stop_group(driver)
