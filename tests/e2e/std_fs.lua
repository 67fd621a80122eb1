-- std.fs through the real binary (spec §5.7). The runner's cwd is a fresh temp dir, so all
-- paths here are relative and live under ./t.
local C = require("lib.check")
local eq, errof = C.eq, C.errof
local function sorted(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  return table.concat(c, "|")
end
local fs = std.fs

eq(fs.mkdir("t/sub/deep"), true)
eq(fs.is_dir("t/sub/deep"), true)
eq(fs.write("t/a.txt", "hello é"), true)
eq(fs.read("t/a.txt"), "hello é")
eq(fs.write_binary("t/bin.dat", "\0\xff\xfe"), true)
eq(fs.read_binary("t/bin.dat"), "\0\xff\xfe")
eq(errof(fs.read, "t/bin.dat"), "fs.read: t/bin.dat: stream did not contain valid UTF-8")
eq(errof(fs.read, "t/missing"), "fs.read: t/missing: No such file or directory (os error 2)")
eq(errof(fs.write, "t/no/dir/x", "x"), "fs.write: t/no/dir/x: No such file or directory (os error 2)")
eq(errof(fs.read, "t/a\0b"), "fs.read: path contains a NUL byte")

eq(fs.copy("t/a.txt", "t/b.txt"), true)
eq(fs.read("t/b.txt"), "hello é")
eq(fs.exists("t/b.txt"), true)
eq(fs.is_file("t/b.txt"), true)
eq(fs.is_dir("t/b.txt"), false)
eq(fs.exists("t/nope"), false)
eq(fs.is_file("t/nope"), false)

fs.write("t/sub/c.rs", "")
fs.write("t/sub/deep/d.txt", "")
eq(sorted(fs.walk("t")), "t/a.txt|t/b.txt|t/bin.dat|t/sub/c.rs|t/sub/deep/d.txt")
eq(sorted(fs.walk("t/")), "t/a.txt|t/b.txt|t/bin.dat|t/sub/c.rs|t/sub/deep/d.txt")
eq(errof(fs.walk, "t/none"),
  "fs.walk: IO error for operation on t/none: No such file or directory (os error 2)")

eq(sorted(fs.glob("t/*.txt")), "t/a.txt|t/b.txt")
eq(sorted(fs.glob("./t/*.txt")), "t/a.txt|t/b.txt")
eq(sorted(fs.glob("t/**/*.txt")), "t/a.txt|t/b.txt|t/sub/deep/d.txt")
eq(sorted(fs.glob("t/**/*.{rs,dat}")), "t/bin.dat|t/sub/c.rs")
eq(sorted(fs.glob("t/?.txt")), "t/a.txt|t/b.txt")
eq(sorted(fs.glob("t/[a].txt")), "t/a.txt")
eq(sorted(fs.glob("t/a.txt")), "t/a.txt")
eq(errof(fs.glob, "t/a["),
  "fs.glob: invalid pattern: error parsing glob 't/a[': unclosed character class; missing ']'")

fs.mkdir("t/many")
for i = 1, 10001 do fs.write("t/many/" .. i, "") end
eq(errof(fs.walk, "t/many"), "fs.walk: entry limit exceeded (10000)")
eq(errof(fs.glob, "t/many/*"), "fs.glob: entry limit exceeded (10000)")

eq(fs.remove("t/a.txt"), true)
eq(fs.exists("t/a.txt"), false)
eq(fs.remove("t"), true)
eq(fs.exists("t"), false)
eq(errof(fs.remove, "t"), "fs.remove: t: No such file or directory (os error 2)")

print("PASS")
