-- Runs an Argo CD health script the way Argo CD does: `obj` is the resource, the chunk returns
-- hs = {status, message}. Argo CD's gopher-lua (Lua 5.1) opens only a few libraries; the script
-- gets exactly those, so a call into io, os or require fails here as it would there.
-- usage: lua5.1 harness.lua <health.lua> <sample.lua (returns the resource as a table)>
local script = assert(loadfile(arg[1]))
local sample = assert(loadfile(arg[2]))()
setfenv(script, {
  obj = sample,
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
  math = math, string = string, table = table,
})
local hs = script()
io.write(tostring(hs.status), "\n", tostring(hs.message), "\n")
