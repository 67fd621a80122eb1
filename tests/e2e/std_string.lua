-- std.string through the real binary (spec §5.4): UTF-8 characters, exact errors.
local C = require("lib.check")
local eq, errof = C.eq, C.errof
local s = std.string

eq(s.trim("  hello  "), "hello")
eq(s.trim_start("  hello  "), "hello  ")
eq(s.trim_end("  hello  "), "  hello")
eq(s.trim("\u{3000}\u{a0}x\u{2029}"), "x")

local parts = s.split(",a,,b,", ",")
eq(#parts, 5)
eq(table.concat(parts, "|"), "|a||b|")
eq(table.concat(s.split("a::b::c", "::"), "|"), "a|b|c")
eq(errof(s.split, "abc", ""), "string.split: separator must not be empty")

eq(s.starts_with("hello world", "hello"), true)
eq(s.ends_with("hello world", "hello"), false)
eq(s.contains("hello world", "lo wo"), true)

eq(s.replace("abab", "ab", "x"), "xab")
eq(s.replace_all("abab", "ab", "x"), "xx")
eq(s.replace("a.b", ".", "%"), "a%b")

eq(s.pad_start("42", 5, "0"), "00042")
eq(s.pad_end("hi", 5), "hi   ")
eq(s.pad_start("é", 3, "→"), "→→é")
eq(errof(s.pad_start, "x", 5, "ab"), "fill must be a single character")
eq(errof(s.pad_end, "x", 5, ""), "fill must be a single character")

eq(s.truncate("hello world", 8, "..."), "hello...")
eq(s.truncate("hello world", 5), "hello")
eq(s.truncate("hi", 10, "..."), "hi")
eq(s.truncate("hello", 2, "..."), "..")
eq(s.truncate("héllo wörld", 6, "…"), "héllo…")

eq(s.upper("café"), "CAFÉ")
eq(s.lower("CAFÉ"), "café")
eq(s.upper("straße"), "STRASSE")
eq(s.upper("привет"), "ПРИВЕТ")
eq(s.lower("ΟΔΟΣ"), "οδος")

local cs = s.chars("café")
eq(#cs, 4)
eq(cs[4], "é")
eq(s.char_count("👋🌍"), 2)
eq(s.reverse("café"), "éfac")
eq(s.reverse(""), "")
eq(errof(s.char_count, "\xff"), "string.char_count: argument 1 is not valid UTF-8")

print("PASS")
