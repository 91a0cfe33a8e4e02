-- beatcore claim: renew the lease, take stale in-flight and due entries, return them.
-- KEYS: 1 lock, 2 fence, 3 due, 4 inflight, 5 claimed, 6 defs, 7 states, 8 meta
-- ARGV: 1 token, 2 ttl_ms, 3 now_us, 4 stale_us (claimed at or before: recovered), 5 limit,
--       6 holder (checked with the token: tokens may repeat after Redis lost its data)
-- Returns {0, last_token_issued, current_holder_or_empty} when the lease is stale (nothing changed), else
-- {1, next_due_score_or_empty, name, definition, state, recovered, ...}.
local token = ARGV[1]
if redis.call('HGET', KEYS[1], 'token') ~= token or redis.call('HGET', KEYS[1], 'holder') ~= ARGV[6] then
  return {0, redis.call('GET', KEYS[2]) or '', redis.call('HGET', KEYS[1], 'holder') or ''}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[8], 'last_tick', ARGV[3])

local limit = tonumber(ARGV[5])
local out = {1, ''}
local taken = 0

local function take(name, recovered)
  redis.call('ZREM', KEYS[3], name)
  local definition = redis.call('HGET', KEYS[6], name)
  if not definition then
    -- a dangling index member (its entry was deleted): drop it
    redis.call('HDEL', KEYS[4], name)
    redis.call('ZREM', KEYS[5], name)
    return
  end
  redis.call('HSET', KEYS[4], name, token .. '|' .. definition)
  redis.call('ZADD', KEYS[5], ARGV[3], name)
  out[#out + 1] = name
  out[#out + 1] = definition
  out[#out + 1] = redis.call('HGET', KEYS[7], name) or ''
  out[#out + 1] = recovered
  taken = taken + 1
end

if limit > 0 then
  local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[4], 'LIMIT', 0, limit)
  for _, name in ipairs(stale) do take(name, '1') end
end
if limit - taken > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3], 'LIMIT', 0, limit - taken)
  for _, name in ipairs(due) do take(name, '0') end
end

local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if first[2] then out[2] = first[2] end
return out
