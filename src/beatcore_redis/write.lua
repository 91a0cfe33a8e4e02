-- beatcore write: compare-and-set a batch of entries (save, trigger, static sync, delete).
-- KEYS: 1 defs, 2 states, 3 due, 4 inflight, 5 claimed, 6 static, 7 corrupt, 8 meta,
--       9 history key prefix (entry <name>'s run history is KEYS[9] .. <name>: deleted with it)
-- ARGV: 1 schema version, 2 mode, 3 expected write generation ('S' only), 4 static digest
--       ('S' only), then per entry: op ('put' | 'del'), name, expected definition, expected
--       state ('' = absent, '*' = not checked), new definition, new state, due score ('' = not
--       due), static ('1' | '0').
--   Mode: 'w' a management write; 'm' a management write of unique names (a save, save_many),
--   written with variadic commands like the sync's; 's' a chunk of the static sync; 'S' its
--   last chunk, which
--   stores the digest of the synced static set when the write generation (meta 'gen', moved
--   on by every chunk and by every write touching a static entry) is still ARGV[3]: nothing
--   but this sync's own chunks wrote a static entry since the sync read it.
-- A call carries at most a few thousand entries (Lua's unpack limit): callers chunk larger writes.
-- Nothing of this call is written unless every expectation holds. Returns {1} when written,
-- else {0, name, ...}: the entries that changed since the caller read them ('m': {0, name,
-- definition, state, ...} with the records found).
local function matches(stored, expected)
  return expected == '*' or (stored or '') == expected
end

-- A change of the static set or of a static definition outdates the stored digest and moves
-- the generation on, so a static sync that read before it stores no digest either.
local function outdate()
  redis.call('HDEL', KEYS[8], 'static_digest')
  return redis.call('HINCRBY', KEYS[8], 'gen', 1)
end

local mode = ARGV[2]
local conflicts = {0}
local names = {}
for i = 5, #ARGV, 8 do names[#names + 1] = ARGV[i + 1] end
if #names > 0 then
  local defs = redis.call('HMGET', KEYS[1], unpack(names))
  local states = redis.call('HMGET', KEYS[2], unpack(names))
  for j, name in ipairs(names) do
    local i = 5 + (j - 1) * 8
    if not (matches(defs[j], ARGV[i + 2]) and matches(states[j], ARGV[i + 3])) then
      conflicts[#conflicts + 1] = name
      if mode == 'm' then
        -- the records found (false: absent), so the writer decides again without a read
        conflicts[#conflicts + 1] = defs[j]
        conflicts[#conflicts + 1] = states[j]
      end
    end
  end
end
if #conflicts > 1 then
  if mode == 's' or mode == 'S' then
    -- This chunk wrote nothing, so the sync's last chunk must not store its digest. Every
    -- chunk moves the generation on by one and the last expects exactly that many steps:
    -- one step more here (a conflict need not come from a write that moved it, e.g. an ack)
    -- breaks the count for good, as the generation never goes back.
    outdate()
    redis.call('HINCRBY', KEYS[8], 'gen', 1)
  end
  return conflicts
end

if mode == 'w' then
  for i = 5, #ARGV, 8 do
    if ARGV[i + 7] == '1' or redis.call('SISMEMBER', KEYS[6], ARGV[i + 1]) == 1 then
      outdate()
      break
    end
  end
elseif mode == 'm' then
  -- outdated below, after the static set's SADD/SREM tell whether a static entry was touched
elseif outdate() == tonumber(ARGV[3]) + 1 and mode == 'S' then
  redis.call('HSET', KEYS[8], 'static_digest', ARGV[4])
end

-- A management write ('w') applies its entries one after the other (a name may come twice);
-- the static sync's names and those of 'm' are unique, so their calls write with one variadic
-- command per key.
if mode == 'w' then
  for i = 5, #ARGV, 8 do
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
      redis.call('DEL', KEYS[9] .. name)
    end
  end
else
  local defs, states, puts, scores, added, removed, dels = {}, {}, {}, {}, {}, {}, {}
  for i = 5, #ARGV, 8 do
    local name = ARGV[i + 1]
    if ARGV[i] == 'put' then
      defs[#defs + 1] = name
      defs[#defs + 1] = ARGV[i + 4]
      states[#states + 1] = name
      states[#states + 1] = ARGV[i + 5]
      puts[#puts + 1] = name
      scores[#puts] = ARGV[i + 6]
      if ARGV[i + 7] == '1' then added[#added + 1] = name else removed[#removed + 1] = name end
    else
      dels[#dels + 1] = name
    end
  end
  if #puts > 0 then
    redis.call('HSET', KEYS[1], unpack(defs))
    redis.call('HSET', KEYS[2], unpack(states))
    redis.call('HDEL', KEYS[7], unpack(puts))
    local inflight = redis.call('HMGET', KEYS[4], unpack(puts))
    local due, undue = {}, {}
    for j, name in ipairs(puts) do
      if scores[j] == '' or inflight[j] then
        undue[#undue + 1] = name
      else
        due[#due + 1] = scores[j]
        due[#due + 1] = name
      end
    end
    if #due > 0 then redis.call('ZADD', KEYS[3], unpack(due)) end
    if #undue > 0 then redis.call('ZREM', KEYS[3], unpack(undue)) end
  end
  if #dels > 0 then
    redis.call('HDEL', KEYS[1], unpack(dels))
    redis.call('HDEL', KEYS[2], unpack(dels))
    redis.call('HDEL', KEYS[4], unpack(dels))
    redis.call('HDEL', KEYS[7], unpack(dels))
    redis.call('ZREM', KEYS[3], unpack(dels))
    redis.call('ZREM', KEYS[5], unpack(dels))
    local histories = {}
    for _, name in ipairs(dels) do
      removed[#removed + 1] = name
      histories[#histories + 1] = KEYS[9] .. name
    end
    redis.call('DEL', unpack(histories))
  end
  if #added > 0 then redis.call('SADD', KEYS[6], unpack(added)) end
  local unstatic = 0
  if #removed > 0 then unstatic = redis.call('SREM', KEYS[6], unpack(removed)) end
  -- 'm': a static entry written, or one that was static and is no longer, outdates the digest
  if mode == 'm' and (#added > 0 or unstatic > 0) then outdate() end
end
-- The schema is set once, with the owner mark (both are there from the first write on).
if redis.call('HSETNX', KEYS[8], 'schema', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[8], 'owner', 'beatcore')
end
return {1}
