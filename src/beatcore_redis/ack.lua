-- beatcore ack: write the acked states of claimed entries that did not change in flight.
-- KEYS: 1 lock, 2 fence, 3 due, 4 inflight, 5 claimed, 6 defs, 7 states
-- ARGV: 1 token, 2 ttl_ms, 3 holder, then per entry: name, claimed state JSON, acked state JSON,
--       due score ('' = never due)
-- Returns {0, last_token_issued, current_holder_or_empty} when the lease is stale (nothing changed), else
-- {1, name, ...}: the entries whose definition or state changed while in flight; the caller
-- merges those with the current state (they are out of the in-flight and due sets meanwhile).
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'holder') ~= ARGV[3] then
  return {0, redis.call('GET', KEYS[2]) or '', redis.call('HGET', KEYS[1], 'holder') or ''}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])

local changed = {1}
for i = 4, #ARGV, 4 do
  local name = ARGV[i]
  local snapshot = redis.call('HGET', KEYS[4], name)
  redis.call('HDEL', KEYS[4], name)
  redis.call('ZREM', KEYS[5], name)
  local definition = redis.call('HGET', KEYS[6], name)
  if definition then
    local unchanged = false
    if snapshot then
      local bar = string.find(snapshot, '|', 1, true)
      unchanged = bar ~= nil
        and string.sub(snapshot, bar + 1) == definition
        and redis.call('HGET', KEYS[7], name) == ARGV[i + 1]
    end
    if unchanged then
      redis.call('HSET', KEYS[7], name, ARGV[i + 2])
      if ARGV[i + 3] == '' then
        redis.call('ZREM', KEYS[3], name)
      else
        redis.call('ZADD', KEYS[3], ARGV[i + 3], name)
      end
    else
      changed[#changed + 1] = name
    end
  end
end
return changed
