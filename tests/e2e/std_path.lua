-- std.path through the real binary (spec §5.3): Rust Path semantics and exact join errors.
local C = require("lib.check")
local eq, errof = C.eq, C.errof
local p = std.path

eq(p.join("/usr", "local", "bin"), "/usr/local/bin")
eq(p.join(), "")
eq(p.join("a", "/b"), "/b")
eq(p.join("/usr", "", "bin"), "/usr/bin")
eq(p.join("a/", "b"), "a/b")
eq(errof(p.join, "a", 42), "path.join: argument 2 must be a string, got integer")
eq(errof(p.join, "a", 1.5), "path.join: argument 2 must be a string, got number")
eq(errof(p.join, {}), "path.join: argument 1 must be a string, got table")

eq(p.parent("/"), nil)
eq(p.parent(""), nil)
eq(p.parent("a"), "")
eq(p.parent("a/b/"), "a")
eq(p.parent("/usr/local/bin/foo"), "/usr/local/bin")
eq(p.parent("/a"), "/")

eq(p.filename("a/b/"), "b")
eq(p.filename(".."), nil)
eq(p.filename("/"), nil)
eq(p.filename("/usr/local/config.toml"), "config.toml")

eq(p.stem(".bashrc"), ".bashrc")
eq(p.stem("a.tar.gz"), "a.tar")
eq(p.ext("a.tar.gz"), "gz")
eq(p.ext(".bashrc"), nil)
eq(p.ext("a."), "")
eq(p.ext("Makefile"), nil)

eq(p.is_absolute("/x"), true)
eq(p.is_absolute("x"), false)

-- absolute: the runner's cwd is a fresh temp dir.
std.fs.mkdir("sub")
local abs = p.absolute("sub")
eq(p.is_absolute(abs), true)
eq(p.filename(abs), "sub")
eq(p.absolute(abs .. "/.."), p.parent(abs))
local missing = errof(p.absolute, "no_such_entry_xyz")
assert(missing:find("No such file or directory (os error 2)", 1, true), missing)

print("PASS")
