-- beatcore ack: write the acked states of claimed entries that did not change in flight,
-- append each entry's run records to its history and write its running fact.
-- KEYS: 1 lock, 2 fence, 3 due, 4 inflight, 5 claimed, 6 defs, 7 states, 8 history key prefix
--       (the history of entry <name> is the list KEYS[8] .. <name>, in the same hash tag),
--       9 running, 10 report log key prefix (entry <name>'s log is KEYS[10] .. <name>)
-- ARGV: 1 token, 2 ttl_ms, 3 holder, 4 history size (records kept per entry), 5 entry count n,
--       6 now (epoch microseconds), then per entry: name, claimed state JSON, acked state JSON,
--       due score ('' = never due), code = run records count * 4 + fact code, then its running
--       fact when the fact code is not 0 (0: no fact, leave it; 1: write it; 2: write it, due
--       at once; 3: write it, due at once if the log holds a final report of the fact's run);
--       then the run records of every entry, in entry order.
-- Returns {0, last_token_issued, current_holder_or_empty} when the lease is stale (nothing changed), else
-- {1, name, ...}: the entries whose definition or state changed while in flight; the caller
-- merges those with the current state (they are out of the in-flight and due sets meanwhile).
-- The entries are read and written with one variadic command per key and slice of SLICE
-- entries, not one per entry; a name given twice counts as changed the second time (its
-- claim was taken by the first). The run records of an entry that still exists and that
-- this lease claimed (changed in flight or not) go to its history with one RPUSH, and one
-- LTRIM once it is longer than the history size; a history key of another type is left
-- alone (its records are dropped), so it never stops the ack. Its running fact is written
-- with one HSET per slice; an entry due now is moved to now in the due index (ZADD XX LT)
-- after its acked state was written.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'holder') ~= ARGV[3] then
  return {0, redis.call('GET', KEYS[2]) or '', redis.call('HGET', KEYS[1], 'holder') or ''}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])

local SLICE = 1000 -- variadic calls stay far below Lua's stack limit for unpack
local size = tonumber(ARGV[4])
local count = tonumber(ARGV[5])
-- where each entry's fields start among the ARGV (5, or 6 with a running fact), its fact
-- code, and where its run records start (after every entry's fields)
local at, kinds, runs_at, runs_n = {}, {}, {}, {}
local i, next_run = 7, 0
for k = 1, count do
  at[k] = i
  local code = tonumber(ARGV[i + 4])
  local kind = code % 4
  kinds[k] = kind
  runs_n[k] = (code - kind) / 4
  runs_at[k] = next_run
  next_run = next_run + runs_n[k]
  i = i + (kind == 0 and 5 or 6)
end
for k = 1, count do runs_at[k] = runs_at[k] + i end

-- True when the log of entry <name> holds a final report of run <task>.
local function ended(name, task)
  local final = task .. '|1|'
  local kept = redis.pcall('LRANGE', KEYS[10] .. name, 0, -1)
  if type(kept) ~= 'table' or kept['err'] ~= nil then return false end
  for _, report in ipairs(kept) do
    if string.sub(report, 1, #final) == final then return true end
  end
  return false
end

local function record_runs(k, name)
  local first = runs_at[k]
  local last = first + runs_n[k] - 1
  if last < first then return end
  local key = KEYS[8] .. name
  local length = false
  for from = first, last, SLICE do
    length = redis.pcall('RPUSH', key, unpack(ARGV, from, math.min(from + SLICE - 1, last)))
    if type(length) ~= 'number' then return end
  end
  if length > size then redis.call('LTRIM', key, -size, -1) end
end

-- Runs are recorded for the entries this lease still holds in flight: an ack that Redis ran
-- but whose reply was lost, sent again by the retry, finds no claim and records them once.
local claim_mark = ARGV[1] .. '|'
local changed, seen = {1}, {}
for first = 1, count, SLICE do
  local last = math.min(first + SLICE - 1, count)
  local names = {}
  for k = first, last do names[#names + 1] = ARGV[at[k]] end
  local snapshots = redis.call('HMGET', KEYS[4], unpack(names))
  local definitions = redis.call('HMGET', KEYS[6], unpack(names))
  local states = redis.call('HMGET', KEYS[7], unpack(names))
  redis.call('HDEL', KEYS[4], unpack(names))
  redis.call('ZREM', KEYS[5], unpack(names))
  local written, scheduled, unscheduled, facts, due_now = {}, {}, {}, {}, {}
  for j, name in ipairs(names) do
    local k = first + j - 1
    local i = at[k]
    local definition = definitions[j]
    if definition then
      local snapshot = snapshots[j]
      if snapshot and not seen[name] and string.sub(snapshot, 1, #claim_mark) == claim_mark then
        record_runs(k, name)
        local kind = kinds[k]
        local fact = kind ~= 0 and ARGV[i + 5] or ''
        if fact ~= '' then
          facts[#facts + 1] = name
          facts[#facts + 1] = fact
          local task = string.sub(fact, 1, string.find(fact, '|', 1, true) - 1)
          if kind == 2 or (kind == 3 and ended(name, task)) then
            due_now[#due_now + 1] = ARGV[6]
            due_now[#due_now + 1] = name
          end
        end
      end
      local unchanged = false
      if snapshot and not seen[name] then
        local bar = string.find(snapshot, '|', 1, true)
        unchanged = bar ~= nil
          and string.sub(snapshot, bar + 1) == definition
          and states[j] == ARGV[i + 1]
      end
      if unchanged then
        written[#written + 1] = name
        written[#written + 1] = ARGV[i + 2]
        if ARGV[i + 3] == '' then
          unscheduled[#unscheduled + 1] = name
        else
          scheduled[#scheduled + 1] = ARGV[i + 3]
          scheduled[#scheduled + 1] = name
        end
      else
        changed[#changed + 1] = name
      end
    end
    seen[name] = true
  end
  if #written > 0 then redis.call('HSET', KEYS[7], unpack(written)) end
  if #scheduled > 0 then redis.call('ZADD', KEYS[3], unpack(scheduled)) end
  if #unscheduled > 0 then redis.call('ZREM', KEYS[3], unpack(unscheduled)) end
  if #facts > 0 then redis.call('HSET', KEYS[9], unpack(facts)) end
  if #due_now > 0 then redis.call('ZADD', KEYS[3], 'XX', 'LT', unpack(due_now)) end
end
return changed
