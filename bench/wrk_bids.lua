-- The bid storm for wrk (`wrk -s bench/wrk_bids.lua URL`), driven by bench/wrk.py.
--
-- Each wrk thread bids for its own disjoint slice of suppliers (one file per thread,
-- written by bench/wrk.py), round-robin, skipping a supplier whose previous bid has no
-- answer yet: no two requests of one supplier are ever in flight at once. Each request
-- carries `X-Request-ID: b<slot>-<seq>`; the answer echoes it (the service's middleware,
-- and floor (a)), which is how a response finds its supplier.
--
-- Amounts strictly decrease by at least the round's minimum decrement from the
-- supplier's last accepted bid; a share BENCH_BAD_SHARE deliberately repeats it (the
-- service refuses those with 422 bid-not-lower). Counts are kept by status and problem
-- type. done() prints one line `BENCH-WRK <json>` (counts, wrk's socket errors and a grid
-- of percentiles of wrk's own latency distribution) and writes each supplier's last
-- amount to BENCH_WRK_STATE_OUT, which the next run (after the warm-up) reads back.
--
-- Settings come from the environment (done() runs where init()'s arguments never go):
-- BENCH_WRK_DIR (suppliers-<thread>.tsv: "supplier_id<TAB>token" lines),
-- BENCH_WRK_STATE_IN / BENCH_WRK_STATE_OUT ("thread slot cents unsure" lines),
-- BENCH_BAD_SHARE, BENCH_DECREMENT_CENTS, BENCH_CEILING_CENTS, BENCH_SEED.

local dir = os.getenv("BENCH_WRK_DIR")
local state_in = os.getenv("BENCH_WRK_STATE_IN") or ""
local state_out = os.getenv("BENCH_WRK_STATE_OUT") or ""
local bad_share = tonumber(os.getenv("BENCH_BAD_SHARE") or "0")
local decrement = tonumber(os.getenv("BENCH_DECREMENT_CENTS") or "1")
local ceiling = tonumber(os.getenv("BENCH_CEILING_CENTS") or "50000000")
local seed = tonumber(os.getenv("BENCH_SEED") or "1")

-- Percentiles reported from wrk's latency distribution (bench/wrk.py merges runs with them).
local GRID = {}
for p = 1, 99 do GRID[#GRID + 1] = p end
for _, p in ipairs({99.5, 99.9, 99.99}) do GRID[#GRID + 1] = p end

-- ------------------------------------------------------------ main state

local threads = {}

function setup(thread)
   thread:set("index", #threads)
   threads[#threads + 1] = thread
end

-- ------------------------------------------------------------ thread state

index = nil          -- set by setup()
prefix = {}          -- per slot: request line and headers up to the request id
last = {}            -- per slot: last accepted amount (cents), absent before the first
sent = {}            -- per slot: amount of the bid in flight
busy = {}            -- per slot: true while a bid has no answer
unsure = {}          -- per slot: true when the last amount is of a bid never answered
counts = {}          -- "201", "422 bid-not-lower", ...
deliberate = {}      -- per slot: true when the bid in flight is a deliberate repeat
repeats = 0          -- deliberate repeats sent
repeats_answered = 0 -- ... answered before wrk stopped
repeats_refused = 0  -- ... answered with a refusal, as they must be by the service
not_deliberate = 0   -- refusals and errors answering a bid that was lower: never expected
overlaps = 0         -- requests sent for a busy supplier (every slot busy: never expected)
unmatched = 0        -- answers without our request id
local slots = 0
local cursor = 0
local seq = 0
local verified = false

local function cents_text(c)
   return string.format("%d.%02d", math.floor(c / 100), c % 100)
end

function init(args)
   math.randomseed(seed * 1000 + index)
   local host = wrk.headers["Host"]
   local f = assert(io.open(dir .. "/suppliers-" .. index .. ".tsv", "r"))
   for line in f:lines() do
      local sid, token = line:match("^(%S+)\t(%S+)$")
      if sid then
         slots = slots + 1
         prefix[slots] = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. host ..
            "\r\nAuthorization: Bearer " .. token .. "\r\nX-Bench-Supplier: " .. sid ..
            "\r\nContent-Type: application/json\r\nX-Request-ID: b" .. slots .. "-"
      end
   end
   f:close()
   if state_in ~= "" then
      local s = io.open(state_in, "r")
      if s then
         for line in s:lines() do
            local t, slot, c, u = line:match("^(%d+) (%d+) (%d+) ([01])$")
            if t and tonumber(t) == index then
               last[tonumber(slot)] = tonumber(c)
               unsure[tonumber(slot)] = u == "1" or nil
            end
         end
         s:close()
      end
   end
end

function request()
   -- wrk calls request() once on thread 0 to check the script's output before any
   -- connection exists: that request is never sent, so it must not touch a supplier.
   if index == 0 and not verified then
      verified = true
      return prefix[1] .. "0\r\nContent-Length: 2\r\n\r\n{}"
   end
   local tries = 0
   repeat
      cursor = cursor % slots + 1
      tries = tries + 1
   until not busy[cursor] or tries >= slots
   if busy[cursor] then overlaps = overlaps + 1 end
   local prev = last[cursor]
   local cents
   -- No deliberate repeat of an amount the service may never have taken.
   if prev and not unsure[cursor] and math.random() < bad_share then
      cents = prev           -- not lower than the previous bid: must be refused
      repeats = repeats + 1
   elseif prev then
      cents = prev - math.random(decrement, decrement + 499)
   else
      cents = ceiling - math.random(0, 10000)
   end
   busy[cursor] = true
   sent[cursor] = cents
   deliberate[cursor] = prev ~= nil and cents == prev
   seq = seq + 1
   local body = '{"amount":"' .. cents_text(cents) .. '"}'
   return prefix[cursor] .. seq .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

function response(status, headers, body)
   local rid = headers["X-Request-ID"] or headers["x-request-id"] or ""
   local slot = tonumber(rid:match("^b(%d+)-"))
   if slot and busy[slot] then
      busy[slot] = nil
      unsure[slot] = nil
      if status == 201 then last[slot] = sent[slot] end
      if deliberate[slot] then
         repeats_answered = repeats_answered + 1
         if status ~= 201 then repeats_refused = repeats_refused + 1 end
      elseif status ~= 201 then
         not_deliberate = not_deliberate + 1
      end
   else
      unmatched = unmatched + 1
   end
   local key = tostring(status)
   if status ~= 201 then
      local kind = body:match('"type"%s*:%s*"([^"]*)"')
      key = key .. " " .. ((kind and kind:match("([^/]*)$")) or "-")
   end
   counts[key] = (counts[key] or 0) + 1
end

-- ------------------------------------------------------------ main state, at the end

local function clean(s)
   return (tostring(s):gsub('[%c"\\]', ""))
end

function done(summary, latency, requests)
   local total = {}
   local extra = {repeats = 0, repeats_answered = 0, repeats_refused = 0, not_deliberate = 0,
                  overlaps = 0, unmatched = 0, in_flight_at_end = 0}
   local out = state_out ~= "" and assert(io.open(state_out, "w")) or nil
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
      for k in pairs(extra) do
         if k ~= "in_flight_at_end" then extra[k] = extra[k] + t:get(k) end
      end
      local i = t:get("index")
      local amounts, in_flight = t:get("last"), t:get("sent")
      -- A bid still in flight when wrk stopped may yet be accepted: the next run goes on
      -- below its amount (lower than the last accepted too, so it is never refused), and
      -- does not deliberately repeat it (the service may never have taken it).
      local doubt = t:get("unsure")
      for slot in pairs(t:get("busy")) do
         amounts[slot] = math.min(amounts[slot] or in_flight[slot], in_flight[slot])
         doubt[slot] = true
         extra.in_flight_at_end = extra.in_flight_at_end + 1
      end
      if out then
         for slot, c in pairs(amounts) do
            out:write(i, " ", slot, " ", c, " ", doubt[slot] and 1 or 0, "\n")
         end
      end
   end
   if out then out:close() end
   local parts = {}
   for k, v in pairs(total) do parts[#parts + 1] = string.format('"%s":%d', clean(k), v) end
   local pct = {}
   for _, p in ipairs(GRID) do
      pct[#pct + 1] = string.format('"%s":%d', p, latency:percentile(p))
   end
   local e = summary.errors
   local low = summary.requests > 0 and latency.min or 0
   io.write(string.format(
      'BENCH-WRK {"threads":%d,"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"counts":{%s},"repeats":%d,"repeats_answered":%d,"repeats_refused":%d,' ..
      '"not_deliberate":%d,' ..
      '"overlaps":%d,"unmatched":%d,"in_flight_at_end":%d,' ..
      '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"count":%d,"percentiles":{%s}}}\n',
      #threads, summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ","), extra.repeats, extra.repeats_answered, extra.repeats_refused,
      extra.not_deliberate,
      extra.overlaps, extra.unmatched,
      extra.in_flight_at_end,
      low, latency.max, latency.mean, summary.requests, table.concat(pct, ",")))
end
