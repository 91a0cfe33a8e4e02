-- beatcore lock acquire: a new fencing token and the lease, unless another holder's is valid.
-- KEYS: 1 lock, 2 fence, 3 meta
-- ARGV: 1 holder, 2 ttl_ms, 3 acquired_at (epoch microseconds), 4 schema version
-- Returns the new token, or 0 when another holder's lease has not expired.
local held = redis.call('HGET', KEYS[1], 'holder')
if held and held ~= ARGV[1] then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', token, 'holder', ARGV[1], 'acquired_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], 'owner', 'beatcore')
redis.call('HSETNX', KEYS[3], 'schema', ARGV[4])
return token
