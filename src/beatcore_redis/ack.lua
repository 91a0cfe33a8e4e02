-- beatcore ack: write the acked states of claimed entries that did not change in flight, and
-- append each entry's run records to its history.
-- KEYS: 1 lock, 2 fence, 3 due, 4 inflight, 5 claimed, 6 defs, 7 states, 8 history key prefix
--       (the history of entry <name> is the list KEYS[8] .. <name>, in the same hash tag)
-- ARGV: 1 token, 2 ttl_ms, 3 holder, 4 history size (records kept per entry), 5 entry count n,
--       then per entry: name, claimed state JSON, acked state JSON, due score ('' = never due),
--       run records count; then the run records of every entry, in entry order.
-- Returns {0, last_token_issued, current_holder_or_empty} when the lease is stale (nothing changed), else
-- {1, name, ...}: the entries whose definition or state changed while in flight; the caller
-- merges those with the current state (they are out of the in-flight and due sets meanwhile).
-- The entries are read and written with one variadic command per key and slice of SLICE
-- entries, not one per entry; a name given twice counts as changed the second time (its
-- claim was taken by the first). The run records of an entry that still exists and that
-- this lease claimed (changed in flight or not) go to its history with one RPUSH, and one
-- LTRIM once it is longer than the history size; a history key of another type is left
-- alone (its records are dropped), so it never stops the ack.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'holder') ~= ARGV[3] then
  return {0, redis.call('GET', KEYS[2]) or '', redis.call('HGET', KEYS[1], 'holder') or ''}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])

local SLICE = 1000 -- variadic calls stay far below Lua's stack limit for unpack
local FIELDS, BASE = 5, 5 -- fields per entry; entry k's fields start at ARGV[BASE + FIELDS * (k - 1) + 1]
local size = tonumber(ARGV[4])
local count = tonumber(ARGV[5])
-- where each entry's run records start among the ARGV
local runs_at, next_run = {}, BASE + FIELDS * count + 1
for k = 1, count do
  runs_at[k] = next_run
  next_run = next_run + tonumber(ARGV[BASE + FIELDS * k])
end

local function record_runs(k, name)
  local first = runs_at[k]
  local last = first + tonumber(ARGV[BASE + FIELDS * k]) - 1
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
  for k = first, last do names[#names + 1] = ARGV[BASE + FIELDS * (k - 1) + 1] end
  local snapshots = redis.call('HMGET', KEYS[4], unpack(names))
  local definitions = redis.call('HMGET', KEYS[6], unpack(names))
  local states = redis.call('HMGET', KEYS[7], unpack(names))
  redis.call('HDEL', KEYS[4], unpack(names))
  redis.call('ZREM', KEYS[5], unpack(names))
  local written, scheduled, unscheduled = {}, {}, {}
  for j, name in ipairs(names) do
    local i = BASE + FIELDS * (first + j - 2) + 1
    local definition = definitions[j]
    if definition then
      local snapshot = snapshots[j]
      if snapshot and not seen[name] and string.sub(snapshot, 1, #claim_mark) == claim_mark then
        record_runs(first + j - 1, name)
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
end
return changed
