#!/usr/bin/env bash
# Installs Artillery (npm) into bench/artillery/node_modules, for bench/loadtest_compare.py.
# 2.0.21 is the last release that runs on Debian 12's Node 20; --ignore-scripts skips the
# Playwright browser download of its browser engine, which the WebSocket engine does not use.
set -euo pipefail
cd "$(dirname "$0")/artillery"
npm install --no-audit --no-fund --ignore-scripts
./node_modules/.bin/artillery --version | head -5
