-- Detached (never joined) tasks keep the process alive until they finish (spec core §2.4 c,
-- §8.2 #12); their errors are not reported and do not fail the run.
-- expect-stdout: main chunk done
-- expect-stdout: detached task finished after the main chunk
-- expect-stdout: nested detached task finished
-- reject-stderr: Error:
-- reject-stdout: FAIL
local main_done = false
local t0 = std.time.millis()
std.task.spawn(function()
  std.task.sleep(300)
  if main_done and std.time.millis() - t0 >= 280 then
    print("detached task finished after the main chunk")
  else
    print("FAIL: detached task ran early")
  end
  std.task.spawn(function()
    std.task.sleep(50)
    print("nested detached task finished")
  end)
end)
std.task.spawn(function() std.task.sleep(20); error("detached failure is silent") end)
main_done = true
print("main chunk done")
