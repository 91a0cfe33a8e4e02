-- beatcore lock acquire: a new fencing token and the lease, unless another holder's is valid.
-- KEYS: 1 lock, 2 fence, 3 meta
-- ARGV: 1 holder, 2 ttl_ms, 3 acquired_at (epoch microseconds), 4 schema version
-- Returns the new token, or 0 when another holder's lease has not expired.
local held = redis.call('HGET', KEYS[1], 'holder')
if held and held ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- A new schedule, or Redis lost its data: start above every token issued before, so a
  -- leader from before the loss can never hold the same token as a new one (server time
  -- in microseconds; concatenated because Lua numbers would print it in exponent form).
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], now[1] .. string.format('%06d', tonumber(now[2])))
end
local token = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', token, 'holder', ARGV[1], 'acquired_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], 'owner', 'beatcore')
redis.call('HSETNX', KEYS[3], 'schema', ARGV[4])
return token
