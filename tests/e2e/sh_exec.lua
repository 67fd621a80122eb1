-- spec core §7.16 sh_exec_echo: sh.exec("echo ok") -> ok=true, code=0, stdout "ok\n".
local r = sh.exec("echo ok")
print("ok=" .. tostring(r.ok))
print("code=" .. tostring(r.code))
print("stdout=" .. r.stdout:gsub("%s+$", ""))
assert(r.ok == true and r.code == 0 and r.stdout == "ok\n" and r.stderr == "")
print("PASS")
