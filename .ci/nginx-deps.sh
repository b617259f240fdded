#!/usr/bin/env bash
# Install what tests/test_replicas_nginx.py needs on a fresh Debian machine, as root: Debian's nginx package.
# The test writes its own configuration in a temporary folder, binds nginx to 127.0.0.1 and starts and stops it
# itself; the package's own service is never started here (nothing in CI needs it).
# Usage: bash .ci/nginx-deps.sh            (idempotent: does nothing when nginx is already installed)
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    echo "nginx-deps: $(/usr/sbin/nginx -v 2>&1 || nginx -v 2>&1) already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d exit 101: the package must not start (or fail to start) a system-wide nginx on port 80.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q --no-install-recommends nginx
echo "nginx-deps: installed $(/usr/sbin/nginx -v 2>&1)"
