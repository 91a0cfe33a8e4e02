-- beatcore lock renew (ARGV[3] = '1') or release (ARGV[3] = '0'), by the holder only.
-- KEYS: 1 lock, 2 fence
-- ARGV: 1 token, 2 ttl_ms, 3 mode, 4 holder
-- Returns {1, token} when the lease was current, else {0, last_token_issued, current_holder_or_empty}.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'holder') ~= ARGV[4] then
  return {0, redis.call('GET', KEYS[2]) or '', redis.call('HGET', KEYS[1], 'holder') or ''}
end
if ARGV[3] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
  redis.call('INCR', KEYS[2])
end
return {1, ARGV[1]}
