"""A headless Chromium driven over the Chrome DevTools protocol, for tests of the web page.

Uses the system's chromium (Debian: apt-get install chromium) and aiohttp's WebSocket client,
so nothing is downloaded and no driver binary has to match the browser's version.

  with Browser() as browser:
      browser.open("http://127.0.0.1:8501/")
      browser.evaluate("document.title")
      browser.type_text("#caption", "the digit 3 ...")
      png = browser.screenshot()
"""

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--remote-debugging-port=0"]


def find_chromium():
    """The path of the system's Chromium, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(Exception):
    """The browser did not start, or a page's script threw."""


class Browser:
    """One headless Chromium with a fresh profile and one tab of width x height pixels."""

    def __init__(self, width=1100, height=900, timeout_s=60):
        path = find_chromium()
        if path is None:
            raise BrowserError("no chromium on PATH")
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self._loop = asyncio.new_event_loop()
        self._next_id = 0
        self._session = None
        self._profile = tempfile.mkdtemp(prefix="t2i_tf-chromium-")
        self._process = subprocess.Popen(
            [path, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._run(self._connect())
        except BaseException:
            self.close()
            raise

    def _run(self, coroutine):
        return self._loop.run_until_complete(asyncio.wait_for(coroutine, self.timeout_s))

    async def _connect(self):
        port_file = os.path.join(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout_s
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise BrowserError("chromium did not start its DevTools server")
            await asyncio.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as answer:
            targets = await answer.json(content_type=None)
        page = next(t for t in targets if t["type"] == "page")
        self._socket = await self._session.ws_connect(page["webSocketDebuggerUrl"],
                                                      max_msg_size=0)
        await self._command("Page.enable")
        await self._command("Runtime.enable")
        await self._command("Emulation.setDeviceMetricsOverride", width=self.width,
                            height=self.height, deviceScaleFactor=1, mobile=False)

    async def _command(self, method, **params):
        self._next_id += 1
        ident = self._next_id
        await self._socket.send_str(json.dumps({"id": ident, "method": method,
                                                "params": params}))
        while True:
            message = await self._socket.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise BrowserError(f"the DevTools connection closed ({message.type})")
            data = json.loads(message.data)
            if data.get("id") == ident:
                if "error" in data:
                    raise BrowserError(f"{method}: {data['error']}")
                return data["result"]

    def command(self, method, **params):
        """One DevTools command; its result."""
        return self._run(self._command(method, **params))

    def open(self, url):
        """Loads url and waits until its document has loaded."""
        self.command("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True,
                              awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout_s=None):
        """Polls a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r}")
            time.sleep(0.05)

    def type_text(self, selector, text, clear=True):
        """Focuses the element and types text as keyboard input (input events fire),
        replacing what it held unless clear is False."""
        self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                      f"e.focus(); if ({json.dumps(clear)}) e.select(); return true; }})()")
        self.command("Input.insertText", text=text)  # replaces the selection

    def press_enter(self):
        for kind in ("keyDown", "keyUp"):
            self.command("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                         windowsVirtualKeyCode=13, text="\r" if kind == "keyDown" else "")

    def screenshot(self):
        """The tab as PNG bytes, the full page's height."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.command("Emulation.setDeviceMetricsOverride", width=self.width,
                     height=max(height, 100), deviceScaleFactor=1, mobile=False)
        data = self.command("Page.captureScreenshot", format="png")["data"]
        self.command("Emulation.setDeviceMetricsOverride", width=self.width,
                     height=self.height, deviceScaleFactor=1, mobile=False)
        return base64.b64decode(data)

    def close(self):
        try:
            if self._session is not None:
                self._loop.run_until_complete(self._session.close())
        finally:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._loop.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
