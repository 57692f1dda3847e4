#!/bin/sh
# Install twisted-gor on a Debian machine (run as root), into ./.venv.
# With --demo, then run the built-in local example: live capture on loopback
# replayed to a local "staging" server.
set -eu
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        python3 python3-venv python3-dev gcc libpcap-dev ca-certificates >/dev/null
fi

PYTHON=${PYTHON:-python3}
case "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" in
    3.11) ;;
    *) echo "install.sh: twisted-gor needs Python 3.11 (pypcap does not build on newer); set PYTHON=python3.11" >&2
       exit 2 ;;
esac

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${GOR_EXTRAS:-}" --config-settings editable_mode=compat
# Regenerate the twistd plugin cache so `twistd --help` lists gor at once.
.venv/bin/python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"
echo "installed: $(pwd)/.venv/bin/gor and $(pwd)/.venv/bin/twistd gor"

if [ "${1:-}" = "--demo" ]; then
    exec .venv/bin/python -m twisted_gor.cli.demo
fi
