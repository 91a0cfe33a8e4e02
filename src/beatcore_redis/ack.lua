-- beatcore ack: write the acked states of claimed entries that did not change in flight.
-- KEYS: 1 lock, 2 fence, 3 due, 4 inflight, 5 claimed, 6 defs, 7 states
-- ARGV: 1 token, 2 ttl_ms, 3 holder, then per entry: name, claimed state JSON, acked state JSON,
--       due score ('' = never due)
-- Returns {0, last_token_issued, current_holder_or_empty} when the lease is stale (nothing changed), else
-- {1, name, ...}: the entries whose definition or state changed while in flight; the caller
-- merges those with the current state (they are out of the in-flight and due sets meanwhile).
-- The entries are read and written with one variadic command per key and slice of SLICE
-- entries, not one per entry; a name given twice counts as changed the second time (its
-- claim was taken by the first).
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'holder') ~= ARGV[3] then
  return {0, redis.call('GET', KEYS[2]) or '', redis.call('HGET', KEYS[1], 'holder') or ''}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])

local SLICE = 1000 -- variadic calls stay far below Lua's stack limit for unpack
local changed, seen = {1}, {}
local count = (#ARGV - 3) / 4
for first = 1, count, SLICE do
  local last = math.min(first + SLICE - 1, count)
  local names = {}
  for k = first, last do names[#names + 1] = ARGV[4 * k] end
  local snapshots = redis.call('HMGET', KEYS[4], unpack(names))
  local definitions = redis.call('HMGET', KEYS[6], unpack(names))
  local states = redis.call('HMGET', KEYS[7], unpack(names))
  redis.call('HDEL', KEYS[4], unpack(names))
  redis.call('ZREM', KEYS[5], unpack(names))
  local written, scheduled, unscheduled = {}, {}, {}
  for j, name in ipairs(names) do
    local i = 4 * (first + j - 1)
    local definition = definitions[j]
    if definition then
      local snapshot = snapshots[j]
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
