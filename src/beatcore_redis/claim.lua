-- beatcore claim: renew the lease, take stale in-flight and due entries, return them.
-- KEYS: 1 lock, 2 fence, 3 due, 4 inflight, 5 claimed, 6 defs, 7 states, 8 meta, 9 running,
--       10 report log key prefix (entry <name>'s log is KEYS[10] .. <name>)
-- ARGV: 1 token, 2 ttl_ms, 3 now_us, 4 stale_us (claimed at or before: recovered), 5 limit,
--       6 holder (checked with the token: tokens may repeat after Redis lost its data)
-- Returns {0, last_token_issued, current_holder_or_empty} when the lease is stale (nothing changed), else
-- {1, next_due_score_or_empty, name, definition, state, recovered, running, reports, ...}:
-- running is the entry's running fact ('' when none) and reports the elements of its log
-- that are of the fact's run (a list, maybe empty; nil when there is no running fact),
-- which the caller applies to it.
local token = ARGV[1]
local lock = redis.call('HMGET', KEYS[1], 'token', 'holder')
if lock[1] ~= token or lock[2] ~= ARGV[6] then
  return {0, redis.call('GET', KEYS[2]) or '', lock[2] or ''}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[8], 'last_tick', ARGV[3])

local limit = tonumber(ARGV[5])
local out = {1, ''}
local taken = 0

-- The elements of an entry's report log that are of the run its running fact names.
local function reports_of(name, fact)
  local found = {}
  if not fact then return found end
  local run = string.sub(fact, 1, (string.find(fact, '|', 1, true) or 1) - 1) .. '|'
  local kept = redis.pcall('LRANGE', KEYS[10] .. name, 0, -1)
  if type(kept) == 'table' and kept['err'] == nil then
    for _, report in ipairs(kept) do
      if string.sub(report, 1, #run) == run then found[#found + 1] = report end
    end
  end
  return found
end

-- Takes the entries of one range (unique names) with one variadic command per key.
local function take(names, recovered)
  if #names == 0 then return end
  local definitions = redis.call('HMGET', KEYS[6], unpack(names))
  local states = redis.call('HMGET', KEYS[7], unpack(names))
  local facts = redis.call('HMGET', KEYS[9], unpack(names))
  redis.call('ZREM', KEYS[3], unpack(names))
  local inflight, claimed, dangling = {}, {}, {}
  for j, name in ipairs(names) do
    local definition = definitions[j]
    if definition then
      inflight[#inflight + 1] = name
      inflight[#inflight + 1] = token .. '|' .. definition
      claimed[#claimed + 1] = ARGV[3]
      claimed[#claimed + 1] = name
      out[#out + 1] = name
      out[#out + 1] = definition
      out[#out + 1] = states[j] or ''
      out[#out + 1] = recovered
      out[#out + 1] = facts[j] or ''
      -- an empty list per entry costs more to reply than its other fields together
      out[#out + 1] = facts[j] and reports_of(name, facts[j]) or false
      taken = taken + 1
    else
      -- a dangling index member (its entry was deleted): drop it
      dangling[#dangling + 1] = name
    end
  end
  if #inflight > 0 then
    redis.call('HSET', KEYS[4], unpack(inflight))
    redis.call('ZADD', KEYS[5], unpack(claimed))
  end
  if #dangling > 0 then
    redis.call('HDEL', KEYS[4], unpack(dangling))
    redis.call('ZREM', KEYS[5], unpack(dangling))
  end
end

-- Lua's unpack takes a few thousand values at most: a range is taken in slices.
local SLICE = 1000
local function take_all(names, recovered)
  for first = 1, #names, SLICE do
    take({unpack(names, first, math.min(first + SLICE - 1, #names))}, recovered)
  end
end

if limit > 0 then
  take_all(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[4], 'LIMIT', 0, limit), '1')
end
-- The first due entry tells an idle tick (nothing due: no range to take) from a busy one.
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if limit - taken > 0 and first[2] and tonumber(first[2]) <= tonumber(ARGV[3]) then
  take_all(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3], 'LIMIT', 0, limit - taken), '0')
  first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
end
if first[2] then out[2] = first[2] end
return out
