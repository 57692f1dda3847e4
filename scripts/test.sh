#!/bin/sh
# Install the test dependencies (system packages and Python extras) and run the
# whole test suite. Run as root: the capture tests need CAP_NET_RAW.
set -eu
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nginx tcpdump wrk openssl >/dev/null
fi
GOR_EXTRAS="[test]" sh scripts/install.sh
PATH="$(pwd)/.venv/bin:$PATH"
export PATH
exec .venv/bin/python -m twisted.trial "${@:-tests}"
