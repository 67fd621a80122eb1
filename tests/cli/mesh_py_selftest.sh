#!/usr/bin/env bash
# mesh_py_selftest.sh - the independent Python mesh peer (tests/peers/mesh_py_peer.py) checks
# itself against every vector of spec mesh Appendix A (identities, auth and revocation
# signatures, canonical bytes, envelope signatures and wire forms, the Noise XX transcript) and
# the §6 normal-form examples, so that tests/cli/mesh_interop.sh can trust it. Runs under Debian's
# /usr/bin/python3 (python3-nacl, python3-websockets from the Makefile's DEB_PACKAGES).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-mesh-py-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$here/lib/common.sh"
export PYTHONDONTWRITEBYTECODE=1

rc=0
timeout 60 /usr/bin/python3 "$here/../peers/mesh_py_peer.py" selftest >"$tmp/out" 2>"$tmp/err" \
    </dev/null || rc=$?
expect_rc 0 "selftest (needs python3-nacl and python3-websockets: make deps)"
grep -Eqx 'selftest ok \([0-9]+ checks\)' "$tmp/out" || fail "selftest summary line"
n=$(sed -n 's/^selftest ok (\([0-9]*\) checks)$/\1/p' "$tmp/out")
[ "${n:-0}" -ge 70 ] || fail "selftest ran only ${n:-0} checks"
finish
