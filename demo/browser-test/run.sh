#!/usr/bin/env bash
# The demo in a real browser: Debian's headless Chromium, driven by
# playwright-core, loads the page, receives a whole agent run, survives a
# server-side socket kill mid-run with no duplicate and no gap, and saves
# demo/browser-test/screenshot.png.
#
# Works on a fresh machine: installs chromium + chromium-driver with apt if
# missing (needs root or sudo), playwright-core from package-lock.json (it uses
# /usr/bin/chromium; it never downloads a browser of its own), builds the demo.
# Everything it starts listens on 127.0.0.1 only and is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
start=$(date +%s)
step() { echo "=== $* ($(( $(date +%s) - start ))s)"; }

if ! command -v chromium >/dev/null 2>&1; then
    step "installing chromium and chromium-driver (apt)"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
chromium --version

cd "$here"
if [ ! -f node_modules/playwright-core/package.json ]; then
    step "installing playwright-core (npm ci)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi

step "building acktrack-demo"
cargo build -q -p acktrack-demo --manifest-path "$root/Cargo.toml"
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"

step "receiver.js unit tests (node --test)"
node --test --test-reporter=dot receiver.test.mjs

step "browser test"
node test.mjs "$target_dir/debug/acktrack-demo" "$here/screenshot.png"
step "done"
