-- std.sql query/exec (spec core §4.7, §7.17 sql_roundtrip).
-- expect-stdout: insert_affected=1
-- expect-stdout: select_body=hello
-- expect-stdout: update_affected=1
-- expect-stdout: delete_affected=1
-- expect-stdout: count=0
-- expect-stdout: PASS
local sql = std.sql
sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL, n INTEGER)")
local r = sql.exec("INSERT INTO notes (body, score, n) VALUES (?, ?, ?)", { "hello", 1.5, 7 })
print("insert_affected=" .. r.affected)
assert(r.last_id == 1, r.last_id)
local rows = sql.query("SELECT id, body, score, n FROM notes WHERE id = ?", { r.last_id })
print("select_body=" .. rows[1].body)
assert(rows[1].score == 1.5 and rows[1].n == 7 and math.type(rows[1].n) == "integer")
print("update_affected=" .. sql.exec("UPDATE notes SET body = ?1 WHERE id = ?2", { "bye", 1 }).affected)
print("delete_affected=" .. sql.exec("DELETE FROM notes WHERE id = ?", { 1 }).affected)
print("count=" .. sql.query("SELECT count(*) AS c FROM notes")[1].c)

-- types: REAL stays float, booleans bind as 0/1, nil binds NULL, ?N placeholders
local t = sql.query("SELECT 2.0 AS f, ? AS t, ? AS f2, ? AS n, ?2 AS again", { true, false, nil })
assert(math.type(t[1].f) == "float" and t[1].f == 2.0)
assert(t[1].t == 1 and t[1].f2 == 0 and t[1].n == std.sql.null and t[1].again == 0)
-- params read as 1..#params (raw length)
t = sql.query("SELECT ? AS a", { "x", extra = "ignored" })
assert(t[1].a == "x")
-- duplicate column names: the later column wins
t = sql.query("SELECT 1 AS x, 2 AS x")
assert(t[1].x == 2)
-- no rows -> empty table; last_id is the connection's last insert rowid
assert(#sql.query("SELECT * FROM notes") == 0)
sql.exec("INSERT INTO notes (body) VALUES ('a')")
local ex = sql.exec("UPDATE notes SET body = 'b'")
assert(ex.affected == 1 and ex.last_id == 1, ex.last_id)
-- exec of a statement that produces no rows although it is a SELECT is fine
assert(sql.exec("SELECT 1 WHERE 0").affected >= 0)
-- trailing semicolons / comments are one statement
assert(sql.query("SELECT 1 AS one; -- done\n")[1].one == 1)
-- DDL, transactions
sql.exec("BEGIN")
sql.exec("INSERT INTO notes (body) VALUES ('tx')")
sql.exec("ROLLBACK")
assert(sql.query("SELECT count(*) AS c FROM notes WHERE body = 'tx'")[1].c == 0)
-- unicode text, big text, large integers
local s = "héllo ✓ " .. string.rep("z", 100000)
assert(sql.query("SELECT ? AS s", { s })[1].s == s)
assert(sql.query("SELECT 9223372036854775807 AS m")[1].m == math.maxinteger)
-- JSON1 is available
assert(sql.query("SELECT json_extract('{\"a\":5}', '$.a') AS v")[1].v == 5)
print("PASS")
