-- Stores open lazily (a script that never touches kv creates no kv.sqlite) and into missing
-- directories (mkdir -p of the parent); AGENT_BLOCK_HOME decides the default location.
-- env: AGENT_BLOCK_SQL_PATH={dir}/deep/er/dir/my.sqlite
-- env: AGENT_BLOCK_SQL_JOURNAL_MODE=nonsense
-- expect-stdout: PASS
-- expect-stderr: sqlite initialized label=sql path=
-- reject-stderr: label=kv
local home = os.getenv("AGENT_BLOCK_HOME")
local dir = home:match("^(.*)/home$")
assert(not std.fs.exists(home .. "/kv.sqlite"))
assert(not std.fs.exists(home .. "/db.sqlite"))
assert(not std.fs.exists(home .. "/ts.sqlite"))
std.sql.exec("CREATE TABLE t (x)")
assert(std.fs.exists(dir .. "/deep/er/dir/my.sqlite"))
-- an unknown journal mode is ignored by SQLite: the database works and keeps its mode
assert(std.sql.query("PRAGMA journal_mode")[1].journal_mode == "delete")
std.ts.append("s", 1)
assert(std.fs.exists(home .. "/ts.sqlite"))
assert(not std.fs.exists(home .. "/kv.sqlite"))
print("PASS")
