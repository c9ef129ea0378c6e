#!/usr/bin/env bash
# Makes sure headless Chromium is at /usr/bin/chromium (Debian's package) for the test that
# opens the load-test report in a browser and checks its plots render. Idempotent; without it
# that test skips and says why.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
