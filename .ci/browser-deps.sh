#!/usr/bin/env bash
# Install what tests/test_browser.py needs on a fresh Debian machine, as root: Debian's Chromium.
# Playwright for Python itself comes from pip (the `test` extra); it drives /usr/bin/chromium and never
# downloads a browser of its own (do not run `playwright install`).
# Usage: bash .ci/browser-deps.sh            (idempotent: does nothing when chromium is already installed)
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "browser-deps: $(chromium --version 2>/dev/null | head -1) already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium
echo "browser-deps: installed $(chromium --version 2>/dev/null | head -1)"
