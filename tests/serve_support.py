"""Shared by the server, browser and load tests: a small content folder and a real `kb serve` process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGES: dict[str, str] = {
    "getting-started.md": """---
id: getting-started
title: Getting started
tags: [setup]
---
Welcome to the Example docs. This page explains installation.

## Install the client

Run the installer and set the `API_TOKEN` environment variable before the first request.

## Configure webhooks

Webhooks deliver events to your endpoint. A failed delivery is retried with exponential backoff for
up to 24 hours. Verify each webhook signature with your shared secret.
""",
    "guide/sms.md": """---
title: Sending SMS
---
## Send a message

Use the messaging API to send an SMS to a subscriber. The sender id is limited to 11 characters.

## Delivery reports

Delivery reports tell you whether the handset received the message.
""",
    "guide/xss.md": """---
title: Escaping test
---
Text before any heading about escaping.

## Dangerous markup

Write `<script>window.__pwned = 1</script>` in a page and it must show as text.

Also `<img src=x onerror="window.__pwned = 2">` stays text, as does a zebrafish.
""",
    "unicode.md": """---
title: Unicode page
---
## Emoji corner

The rocket 🚀 launches before the zebrafish telemetry arrives.
""",
}


def write_pages(root: Path, pages: dict[str, str] = PAGES) -> Path:
    for rel, text in pages.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def kb_command(content: Path, index: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kb", "--content", str(content), "--index", str(index), *args]


@dataclass
class Server:
    """A `kb serve` child process on a free loopback port (the server picks it: --port 0)."""

    process: subprocess.Popen[str]
    base: str
    log: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(content: Path, index: Path, *extra: str, timeout: float = 30.0) -> Server:
    cmd = kb_command(content, index, "serve", "--port", "0", "--no-access-log", *extra)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    log: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            match = re.search(r"serving (http://\S+?)/ ", line)
            if match and not found:
                found.append(match.group(1))
            if "Application startup complete" in line or (found and "error" in line.lower()):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if found:
            try:
                if get(found[0] + "/api/health")[0] == 200:
                    return Server(proc, found[0], log)
            except OSError:
                pass
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("kb serve did not start:\n" + "".join(log))


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET",
        timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One request; (status, headers with lower-case names, body), for error statuses too."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, _headers, body = get(url, headers)
    return status, json.loads(body)


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

