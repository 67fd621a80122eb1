-- The main chunk's return values are ignored (spec core §2.1 step 13): returning false, nil, a
-- string that looks like an error, or several values still exits 0.
-- reject-stderr: Error:
print("PASS")
return false, "this is not an error", nil, 42
