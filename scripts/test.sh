#!/bin/sh
# Install the test dependencies (system packages and Python extras) and run the
# whole test suite. Run as root: the capture tests need CAP_NET_RAW.
set -eu
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1; then
    # Wait for another apt (unattended upgrades, a second install) instead of failing.
    APT="apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3"
    $APT update -qq
    # chromium (and a font) renders the HTML comparison report in tests.test_compare_html.
    $APT install -y -qq --no-install-recommends nginx tcpdump wrk openssl chromium fonts-liberation >/dev/null
fi
GOR_EXTRAS="[test]" sh scripts/install.sh
PATH="$(pwd)/.venv/bin:$PATH"
export PATH
exec .venv/bin/python -m twisted.trial "${@:-tests}"
