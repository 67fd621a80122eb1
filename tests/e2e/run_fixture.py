#!/usr/bin/env python3
"""Runs one Lua fixture with the real agent-block binary and checks the outcome.

Usage: run_fixture.py AGENT_BLOCK_BINARY FIXTURE.lua

Directives are read from the leading comment lines of the fixture, "-- key: value":
  expect-exit: N         exit status (default 0)
  expect-stdout: TEXT    substring that stdout must contain (repeatable)
  expect-stderr: TEXT    substring that stderr must contain (repeatable)
  reject-stdout: TEXT    substring that stdout must not contain (repeatable)
  reject-stderr: TEXT    substring that stderr must not contain (repeatable)
  args: ARGS             extra command-line arguments (shell-quoted; {dir} = temp project dir)
  env: KEY=VALUE         extra environment (repeatable; {dir} is replaced)
  timeout: SECONDS       default 30
When expect-exit is 0 and no expect-stdout is given, stdout must contain a line "PASS".
Each run gets a fresh temporary directory used as cwd, --project and AGENT_BLOCK_HOME.
The fixture path is available to the script as the env var FIXTURE_DIR (its directory).
"""
import os
import shlex
import subprocess
import sys
import tempfile


def main():
    binary, fixture = sys.argv[1], os.path.abspath(sys.argv[2])
    d = {"expect-exit": [], "expect-stdout": [], "expect-stderr": [], "reject-stdout": [],
         "reject-stderr": [], "args": [], "env": [], "timeout": []}
    with open(fixture, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("--"):
                break
            body = line[2:].strip()
            key, sep, value = body.partition(":")
            if sep and key.strip() in d:
                d[key.strip()].append(value.strip())
    with tempfile.TemporaryDirectory(prefix="ab-e2e-") as tmp:
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("AGENT_BLOCK_") or k == "RUST_LOG":
                del env[k]
        env["AGENT_BLOCK_HOME"] = os.path.join(tmp, "home")
        env["FIXTURE_DIR"] = os.path.dirname(fixture)
        for e in d["env"]:
            k, _, v = e.partition("=")
            env[k] = v.replace("{dir}", tmp)
        args = []
        for a in d["args"]:
            args += [x.replace("{dir}", tmp) for x in shlex.split(a)]
        cmd = [binary, "run", fixture, "--project", tmp] + args
        timeout = float(d["timeout"][0]) if d["timeout"] else 30.0
        try:
            p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as ex:
            print("TIMEOUT after %.0fs: %s" % (timeout, cmd))
            print("--- stdout\n" + (ex.stdout or b"").decode("utf-8", "replace"))
            print("--- stderr\n" + (ex.stderr or b"").decode("utf-8", "replace"))
            return 1
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        want_exit = int(d["expect-exit"][0]) if d["expect-exit"] else 0
        problems = []
        if p.returncode != want_exit:
            problems.append("exit status %d, expected %d" % (p.returncode, want_exit))
        want_out = d["expect-stdout"]
        if want_exit == 0 and not want_out and "PASS" not in out.splitlines():
            problems.append("stdout has no PASS line")
        for s in want_out:
            if s not in out:
                problems.append("stdout lacks %r" % s)
        for s in d["expect-stderr"]:
            if s not in err:
                problems.append("stderr lacks %r" % s)
        for s in d["reject-stdout"]:
            if s in out:
                problems.append("stdout contains %r" % s)
        for s in d["reject-stderr"]:
            if s in err:
                problems.append("stderr contains %r" % s)
        if problems:
            print("FAIL %s" % os.path.basename(fixture))
            for pr in problems:
                print("  " + pr)
            print("--- command: " + " ".join(shlex.quote(c) for c in cmd))
            print("--- stdout\n" + out)
            print("--- stderr\n" + err)
            return 1
        print("ok %s" % os.path.basename(fixture))
        return 0


if __name__ == "__main__":
    sys.exit(main())
