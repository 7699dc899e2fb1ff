#!/usr/bin/env bash
# Install Debian's headless browser for the `browser` tests: chromium and its WebDriver.
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver exist.
# Needs root (apt-get). Nothing is downloaded outside Debian's package archive.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "install-browser: chromium and chromedriver already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
/usr/bin/chromium --version
/usr/bin/chromedriver --version
