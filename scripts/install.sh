#!/bin/sh
# Install twisted-gor on a Debian machine (run as root), into ./.venv, and
# link /usr/local/bin/gor to it (when run as root and that name is free or
# already ours). With --demo, then run the built-in local example: live
# capture on loopback replayed to a local "staging" server.
# Quiet: it prints what it installed and where, and errors.
set -eu
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1; then
    # Wait for another apt (unattended upgrades) instead of failing on its lock.
    APT="apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3"
    $APT update -qq >/dev/null
    $APT install -y -qq --no-install-recommends \
        python3 python3-venv python3-dev gcc libpcap-dev ca-certificates >/dev/null
fi

PYTHON=${PYTHON:-python3}
case "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" in
    3.11|3.12|3.13) ;;
    *) echo "install.sh: twisted-gor needs Python 3.11 to 3.13; set PYTHON=python3.11 (or 3.12, 3.13)" >&2
       exit 2 ;;
esac

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip -q --disable-pip-version-check --no-input"
piplog=$(mktemp)
quietly() {
    # what pip and setuptools print on success (deprecation banners) is not
    # for the user; on a failure it is
    if ! "$@" 2>"$piplog"; then
        cat "$piplog" >&2
        exit 1
    fi
}
quietly $PIP install --upgrade pip
# pypcap on 3.11, pcap-ct on 3.12+ (pyproject.toml's environment markers)
quietly $PIP install -e ".${GOR_EXTRAS:-}" --config-settings editable_mode=compat
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
    # pypcap 1.3.0's shipped pcap.c does not compile on 3.12+, but its pcap.pyx
    # does with current Cython, and captures at 3.11's CPU cost (pcap-ct, a
    # ctypes binding, costs 2.4x: bench/README.rst). Build it; keep pcap-ct
    # only if that fails. Both provide the module "pcap".
    if ! .venv/bin/python -c 'import pcap, sys; sys.exit(not pcap.__file__.endswith(".so"))' 2>/dev/null; then
        build=$(mktemp -d)
        if $PIP install "cython>=3" setuptools 2>"$build/cython.log" \
            && $PIP download --no-deps --no-binary :all: "pypcap==1.3.0" -d "$build" 2>>"$build/cython.log" \
            && tar xzf "$build"/pypcap-1.3.0.tar.gz -C "$build" \
            && .venv/bin/cython -2 "$build/pypcap-1.3.0/pcap.pyx" -o "$build/pypcap-1.3.0/pcap.c" >"$build/cython.log" 2>&1 \
            && $PIP install --no-build-isolation "$build/pypcap-1.3.0" 2>>"$build/cython.log"; then
            $PIP uninstall -y pcap-ct
            echo "capture: pypcap built from its pcap.pyx with Cython (Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])'))"
        else
            tail -5 "$build/cython.log" >&2 2>/dev/null || true
            echo "capture: could not build pypcap for this Python; using pcap-ct (about 2.4x the capture CPU)" >&2
        fi
        rm -rf "$build"
    fi
fi
# Regenerate the twistd plugin cache so `twistd --help` lists gor at once.
.venv/bin/python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"
here=$(pwd)
onpath=""
if [ "$(id -u)" = 0 ] && [ -d /usr/local/bin ]; then
    current=$(readlink /usr/local/bin/gor 2>/dev/null || true)
    if [ ! -e /usr/local/bin/gor ] || [ "$current" = "$here/.venv/bin/gor" ]; then
        ln -sf "$here/.venv/bin/gor" /usr/local/bin/gor
        onpath=" (linked as /usr/local/bin/gor)"
    fi
fi
echo "installed: $here/.venv/bin/gor$onpath and $here/.venv/bin/twistd gor"
if [ -z "$onpath" ]; then
    echo "to put gor on your PATH: export PATH=\"$here/.venv/bin:\$PATH\""
fi

if [ "${1:-}" = "--demo" ]; then
    exec .venv/bin/python -m twisted_gor.cli.demo
fi
