"""A real headless Chromium driven over the DevTools protocol (a websockets client, as
`helpers.sse_servers.chromium_events` does): open a file:// page with the network disabled, watch the
console, exceptions and every request the page makes, evaluate expressions, click, take screenshots.

    with Browser() as browser:
        browser.open("file:///.../report.html")
        browser.evaluate("document.title")
        browser.errors, browser.requests
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
    "--remote-debugging-port=0", "--window-size=1400,1000",
    # nothing may leave the page: every request that tries goes to a closed local port and fails
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    def __init__(self, timeout: float = 60.0, flags: tuple[str, ...] = (), target: str = "page") -> None:
        self.timeout = timeout
        self.flags = flags
        #: "page": the tab; "devtools": the DevTools front-end (with --auto-open-devtools-for-tabs)
        self.target = target
        self.errors: list[str] = []  # console errors, uncaught exceptions, log entries of level error
        self.requests: list[str] = []  # every URL the page asked for (the page itself included)
        self.events: list[dict] = []  # every DevTools event since the last open()
        self._id = 0

    def __enter__(self) -> "Browser":
        self.profile = tempfile.mkdtemp(prefix="inspector-report-chromium-")
        command = [chromium(), *FLAGS, *self.flags, f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + self.timeout
            page = self._target(self._port(deadline), deadline)
            self._stack = contextlib.ExitStack()
            self.ws = self._stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable")
            self.send("Network.emulateNetworkConditions",
                      {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        stack = getattr(self, "_stack", None)
        if stack is not None:
            stack.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _target(self, port: int, deadline: float) -> dict:
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            for t in targets:
                devtools = t.get("url", "").startswith("devtools://")
                if (self.target == "devtools") == devtools and (devtools or t.get("type") == "page"):
                    return t
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {self.target} target")
            time.sleep(0.1)

    def _port(self, deadline: float) -> int:
        path = os.path.join(self.profile, "DevToolsActivePort")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.proc.returncode}")
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(json.dumps(params.get("args"))[:300])
        elif method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params.get("exceptionDetails"))[:300])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append(params["entry"].get("text", "")[:300])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        self.events.append(message)

    def send(self, method: str, params: dict | None = None, until: float | None = None) -> dict:
        self._id += 1
        ident = self._id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = until or time.monotonic() + self.timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.5, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def open(self, url: str) -> None:
        """Navigate and wait for the load; errors, requests and events are those of this page from here on."""
        self.events, self.errors, self.requests = [], [], []
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete":
                return
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not load")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}"
                               f" {json.dumps(result['exceptionDetails'].get('exception', {}))[:300]}")
        return result.get("result", {}).get("value")

    def screenshot(self, path: str, clip: dict | None = None) -> None:
        params: dict = {"format": "png"}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
