-- beatcore write: compare-and-set a batch of entries (save, trigger, static sync, delete).
-- KEYS: 1 defs, 2 states, 3 due, 4 inflight, 5 claimed, 6 static, 7 corrupt, 8 meta
-- ARGV: 1 schema version, then per entry: op ('put' | 'del'), name, expected definition,
--       expected state ('' = absent, '*' = not checked), new definition, new state,
--       due score ('' = not due), static ('1' | '0')
-- Nothing is written unless every expectation holds. Returns {1} when written, else
-- {0, name, ...}: the entries that changed since the caller read them.
local function matches(key, name, expected)
  if expected == '*' then return true end
  return (redis.call('HGET', key, name) or '') == expected
end

local conflicts = {0}
for i = 2, #ARGV, 8 do
  local name = ARGV[i + 1]
  if not (matches(KEYS[1], name, ARGV[i + 2]) and matches(KEYS[2], name, ARGV[i + 3])) then
    conflicts[#conflicts + 1] = name
  end
end
if #conflicts > 1 then return conflicts end

for i = 2, #ARGV, 8 do
  local op, name = ARGV[i], ARGV[i + 1]
  if op == 'put' then
    redis.call('HSET', KEYS[1], name, ARGV[i + 4])
    redis.call('HSET', KEYS[2], name, ARGV[i + 5])
    redis.call('HDEL', KEYS[7], name)
    if ARGV[i + 6] == '' or redis.call('HEXISTS', KEYS[4], name) == 1 then
      redis.call('ZREM', KEYS[3], name)
    else
      redis.call('ZADD', KEYS[3], ARGV[i + 6], name)
    end
    if ARGV[i + 7] == '1' then
      redis.call('SADD', KEYS[6], name)
    else
      redis.call('SREM', KEYS[6], name)
    end
  else
    redis.call('HDEL', KEYS[1], name)
    redis.call('HDEL', KEYS[2], name)
    redis.call('HDEL', KEYS[4], name)
    redis.call('HDEL', KEYS[7], name)
    redis.call('ZREM', KEYS[3], name)
    redis.call('ZREM', KEYS[5], name)
    redis.call('SREM', KEYS[6], name)
  end
end
redis.call('HSET', KEYS[8], 'owner', 'beatcore')
redis.call('HSETNX', KEYS[8], 'schema', ARGV[1])
return {1}
