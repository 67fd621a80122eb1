-- hello.lua - the script bench_startup.sh starts (one print, nothing else).
print("hello")
