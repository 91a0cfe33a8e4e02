-- beatcore static read: the first read of the static sync.
-- KEYS: 1 meta, 2 static, 3 defs, 4 states
-- ARGV: 1 the digest of the static set the caller wants (see static_sync.py)
-- Returns {1} when the stored digest is that one (nothing to do), else
-- {0, write generation ('' = never written), 1 when the schedule holds no definition and no
-- state (nothing to read: every entry is new) else 0, static member, ...}.
if redis.call('HGET', KEYS[1], 'static_digest') == ARGV[1] then
  return {1}
end
local empty = 0
if redis.call('EXISTS', KEYS[3], KEYS[4]) == 0 then empty = 1 end
local out = {0, redis.call('HGET', KEYS[1], 'gen') or '', empty}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  out[#out + 1] = name
end
return out
