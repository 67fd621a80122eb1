# Helpers shared by the shell tests in tests/cli (sourced, not run: ctest registers only
# tests/cli/*.sh). The sourcing script sets $tmp (a scratch dir) first. Results of `run` are in
# $tmp/out, $tmp/err and $rc; every failed expectation is counted, and `finish` exits non-zero
# when any failed.

failures=0

# fail MESSAGE: records a failure and shows the last run's output.
fail() {
    echo "FAIL: $*" >&2
    echo "--- stdout:" >&2
    cat "$tmp/out" >&2 || true
    echo "--- stderr:" >&2
    cat "$tmp/err" >&2 || true
    failures=$((failures + 1))
}

# run ARGS...: runs the binary (60 s at most) with no stdin.
run() {
    rc=0
    timeout 60 "$AB_BIN" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
}

expect_rc() {
    [ "$rc" -eq "$1" ] || fail "$2: exit $rc, want $1"
}
expect_out() {
    grep -qxF -- "$1" "$tmp/out" || fail "$2: stdout lacks the line '$1'"
}
expect_err() {
    grep -qF -- "$1" "$tmp/err" || fail "$2: stderr lacks '$1'"
}
reject_err() {
    if grep -qF -- "$1" "$tmp/err"; then fail "$2: stderr has '$1'"; fi
}

# finish: the exit status of the test.
finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures failure(s)" >&2
        exit 1
    fi
}
