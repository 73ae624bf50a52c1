-- wrk script of benchmarks/mcp-proxy.ts (fixed-concurrency phase): every request is an MCP
-- Streamable HTTP POST of a JSON-RPC `tools/call` of `echo` with a unique id, with the headers a
-- client sends (Content-Type, Accept both media types, MCP-Protocol-Version, Mcp-Session-Id when
-- the upstream is stateful). Every answer is checked: HTTP 200 and the echoed text in a JSON-RPC
-- result, whether the body is JSON or an SSE stream; anything else counts as bad.
--
--   wrk -t1 -cN -dS --timeout 10s -s mcp-wrk.lua http://127.0.0.1:<port>/mcp -- <session-id|-> <protocol-version> <text> <run-tag>
--
-- done() prints one JSON line (latencies in microseconds) after wrk's own summary.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
local prefix = ""
local headers = {}
local text = "hangar-bench"
local expected = ""

function init(args)
  local sid = args[1]
  text = args[3] or text
  prefix = (args[4] or "run") .. "-" .. tostring(tid) .. "-"
  headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = args[2] or "2025-11-25",
  }
  if sid and sid ~= "-" then headers["Mcp-Session-Id"] = sid end
  expected = '"text":"' .. text .. '"'
  bad = 0
  first_bad = ""
end

function request()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":"' .. prefix .. counter ..
    '","method":"tools/call","params":{"name":"echo","arguments":{"text":"' .. text .. '"}}}'
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) or not string.find(body, expected, 1, true) then
    bad = bad + 1
    if first_bad == "" then first_bad = tostring(status) .. " " .. string.sub(body, 1, 200) end
  end
end

local function esc(s)
  return (string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end))
end

function done(summary, latency, requests)
  local b, first = 0, ""
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    if first == "" then first = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bad":%d,"first_bad":"%s","connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, b, esc(first), e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
