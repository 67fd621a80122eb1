-- Many coroutines hitting the three stores at once get correct, serialised results (one
-- connection per store, one request at a time; spec core §4.7.2).
-- expect-stdout: PASS
local task = std.task
std.sql.exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
std.sql.exec("INSERT INTO counter (id, n) VALUES (1, 0)")
local N, K = 40, 25
local hs = {}
for i = 1, N do
  hs[i] = task.spawn(function()
    for j = 1, K do
      std.kv.set("conc", i .. "/" .. j, { i = i, j = j })
      assert(std.kv.get("conc", i .. "/" .. j).j == j)
      std.sql.exec("UPDATE counter SET n = n + 1 WHERE id = 1")
      std.ts.append("conc", i * 1000 + j, { task = tostring(i) }, j)
      if j % 5 == 0 then task.yield() end
    end
    return i
  end)
end
for i = 1, N do assert(hs[i]:join() == i) end
assert(#std.kv.list("conc") == N * K, #std.kv.list("conc"))
assert(std.sql.query("SELECT n FROM counter")[1].n == N * K)
assert(std.ts.query("conc", { agg = "count" })[1].value == N * K)
assert(std.ts.query("conc", { agg = "count", tags = { task = "7" } })[1].value == K)
-- per-task order was kept: task 3's points come back in append order
local r = std.ts.query("conc", { tags = { task = "3" } })
for j = 1, K do assert(r[j].value == 3000 + j) end
-- concurrent scopes with a mix of cancelled and normal work
task.scope(function(s)
  for i = 1, 10 do
    s:spawn(function() std.kv.set("conc2", tostring(i), i) end)
  end
end)
assert(#std.kv.list("conc2") == 10)
print("PASS")
