-- beatcore write: compare-and-set a batch of entries (save, trigger, static sync, delete).
-- KEYS: 1 defs, 2 states, 3 due, 4 inflight, 5 claimed, 6 static, 7 corrupt, 8 meta,
--       9 history key prefix (entry <name>'s run history is KEYS[9] .. <name>), 10 running,
--       11 report log key prefix (its log is KEYS[11] .. <name>): a delete takes all three along
-- ARGV: 1 schema version, 2 mode, 3 expected write generation ('S' only), 4 static digest
--       ('S' only), then per entry: op ('put' | 'del'), name, expected definition, expected
--       state ('' = absent, '*' = not checked), new definition, new state, due score ('' = not
--       due), static ('1' | '0').
--   Mode: 'w' a management write; 'm' a management write of unique names (a save, save_many),
--   written with variadic commands like the sync's; '1' one 'm' put expecting '?' (a single
--   save of a name the writer never saw: the same outcome and reply as 'm', in fewer steps);
--   's' a chunk of the static sync; 'S' its last chunk, which stores the digest of the
--   synced static set when the write generation (meta 'gen', moved on by every chunk and by
--   every write touching a static entry) is still ARGV[3]: nothing but this sync's own
--   chunks wrote a static entry since the sync read it.
--   'm' also takes '?' as the expected definition: the writer does not know the records (a
--   save of a name this client never saw). The script then decides: no record, the new
--   entry is written as given (its state is that of a new entry); a readable-looking record
--   (state present, not noted unreadable) whose definition is the same or differs only in
--   fields that do not decide the occurrences (schedule, tz, start_at, end_at, max_runs,
--   enabled and jitter equal as JSON values) keeps its state and due slot, and only the
--   definition is written; anything else is a conflict, answered with the records found.
-- A call carries at most a few thousand entries (Lua's unpack limit): callers chunk larger writes.
-- Nothing of this call is written unless every expectation holds. Returns {1} when written
-- ('m' and '1': {1, name, definition, state, ...} for the '?' entries whose state was kept,
-- with the records found, so the writer checks the decision), else {0, name, ...}: the
-- entries that changed since the caller read them ('m' and '1': {0, name, definition, state,
-- ...} with the records found).
local function matches(stored, expected)
  return expected == '*' or (stored or '') == expected
end

-- The fields that decide an entry's occurrences and due instant, with the default of an
-- absent field (nil: null).
local TIMING = {'schedule', 'tz', 'start_at', 'end_at', 'max_runs', 'enabled', 'jitter'}
local TIMING_DEFAULTS = {enabled = true, jitter = 0}

local function same_value(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == 'table' then
    for k, v in pairs(a) do
      if not same_value(v, b[k]) then return false end
    end
    for k in pairs(b) do
      if a[k] == nil then return false end
    end
    return true
  end
  -- a number past 2^53 may have lost digits in Lua: never call it the same
  if type(a) == 'number' then return a == b and math.abs(a) < 9007199254740992 end
  return a == b
end

local function timing_field(record, field)
  local value = record[field]
  if value == nil or value == cjson.null then return TIMING_DEFAULTS[field] end
  return value
end

-- True when two definitions decide the same occurrences and due instants (a '?' save may
-- then keep the stored state); an unreadable stored text is never the same.
local function same_timing(stored, new)
  local ok, old = pcall(cjson.decode, stored)
  if not ok or type(old) ~= 'table' then return false end
  local given = cjson.decode(new)
  if old.v ~= given.v or old.name ~= given.name then return false end
  for _, field in ipairs(TIMING) do
    local a, b = timing_field(old, field), timing_field(given, field)
    if a == nil or b == nil then
      if a ~= b then return false end
    elseif not same_value(a, b) then
      return false
    end
  end
  return true
end

-- A change of the static set or of a static definition outdates the stored digest and moves
-- the generation on, so a static sync that read before it stores no digest either.
local function outdate()
  redis.call('HDEL', KEYS[8], 'static_digest')
  return redis.call('HINCRBY', KEYS[8], 'gen', 1)
end

-- The static set after a put of ARGV's entry (its static flag in ARGV[12]); a static entry
-- written, or one that was static and is no longer, outdates the digest ('m' and '1').
local function mark_static(name, static)
  if static == '1' then
    redis.call('SADD', KEYS[6], name)
    outdate()
  elseif redis.call('SREM', KEYS[6], name) > 0 then
    outdate()
  end
end

-- The schema is set once, with the owner mark (both are there from the first write on).
local function mark_schema()
  if redis.call('HSETNX', KEYS[8], 'schema', ARGV[1]) == 1 then
    redis.call('HSET', KEYS[8], 'owner', 'beatcore')
  end
end

local mode = ARGV[2]
if mode == '1' then
  -- ARGV[5..12]: 'put', name, '?', '', definition, state, due score, static
  local name, definition = ARGV[6], ARGV[9]
  local def = redis.call('HGET', KEYS[1], name)
  local state = redis.call('HGET', KEYS[2], name)
  local reply = {1}
  if not def then
    if state then return {0, name, false, state} end
    redis.call('HSET', KEYS[1], name, definition)
    redis.call('HSET', KEYS[2], name, ARGV[10])
    redis.call('HDEL', KEYS[7], name)
    if ARGV[11] == '' or redis.call('HEXISTS', KEYS[4], name) == 1 then
      redis.call('ZREM', KEYS[3], name)
    else
      redis.call('ZADD', KEYS[3], ARGV[11], name)
    end
    mark_static(name, ARGV[12])
  elseif not state or redis.call('HEXISTS', KEYS[7], name) == 1 then
    return {0, name, def, state}
  elseif def == definition then
    reply = {1, name, def, state}
  elseif same_timing(def, definition) then
    redis.call('HSET', KEYS[1], name, definition)
    mark_static(name, ARGV[12])
    reply = {1, name, def, state}
  else
    return {0, name, def, state}
  end
  mark_schema()
  return reply
end
local conflicts = {0}
local names = {}
-- 'm': what a '?' entry does ('new': written as given, 'same': nothing, 'keep': the definition
-- only), and the reply naming the kept ones
local unknown, kept = {}, {1}
for i = 5, #ARGV, 8 do names[#names + 1] = ARGV[i + 1] end
if #names > 0 then
  local defs = redis.call('HMGET', KEYS[1], unpack(names))
  local states = redis.call('HMGET', KEYS[2], unpack(names))
  local noted = {}
  if mode == 'm' then
    local asked = {}
    for j, name in ipairs(names) do
      if ARGV[5 + (j - 1) * 8 + 2] == '?' and defs[j] then asked[#asked + 1] = name end
    end
    if #asked > 0 then
      local found = redis.call('HMGET', KEYS[7], unpack(asked))
      for k, name in ipairs(asked) do noted[name] = found[k] end
    end
  end
  for j, name in ipairs(names) do
    local i = 5 + (j - 1) * 8
    local ok
    if mode == 'm' and ARGV[i + 2] == '?' then
      if not defs[j] then
        ok = not states[j]
        if ok then unknown[name] = 'new' end
      elseif states[j] and not noted[name] then
        if defs[j] == ARGV[i + 4] then
          unknown[name] = 'same'
          ok = true
        else
          ok = same_timing(defs[j], ARGV[i + 4])
          if ok then unknown[name] = 'keep' end
        end
        if ok then
          kept[#kept + 1] = name
          kept[#kept + 1] = defs[j]
          kept[#kept + 1] = states[j]
        end
      else
        ok = false
      end
    else
      ok = matches(defs[j], ARGV[i + 2]) and matches(states[j], ARGV[i + 3])
    end
    if not ok then
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
      redis.call('DEL', KEYS[9] .. name, KEYS[11] .. name)
      redis.call('HDEL', KEYS[10], name)
    end
  end
else
  local defs, states, puts, scores, added, removed, dels = {}, {}, {}, {}, {}, {}, {}
  for i = 5, #ARGV, 8 do
    local name = ARGV[i + 1]
    local verdict = unknown[name]
    if verdict == 'same' then
      -- equal definition: nothing to write
    elseif verdict == 'keep' then
      defs[#defs + 1] = name
      defs[#defs + 1] = ARGV[i + 4]
      if ARGV[i + 7] == '1' then added[#added + 1] = name else removed[#removed + 1] = name end
    elseif ARGV[i] == 'put' then
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
  if #defs > 0 then redis.call('HSET', KEYS[1], unpack(defs)) end
  if #puts > 0 then
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
      histories[#histories + 1] = KEYS[11] .. name
    end
    redis.call('DEL', unpack(histories))
    redis.call('HDEL', KEYS[10], unpack(dels))
  end
  if #added > 0 then redis.call('SADD', KEYS[6], unpack(added)) end
  local unstatic = 0
  if #removed > 0 then unstatic = redis.call('SREM', KEYS[6], unpack(removed)) end
  -- 'm': a static entry written, or one that was static and is no longer, outdates the digest
  if mode == 'm' and (#added > 0 or unstatic > 0) then outdate() end
end
mark_schema()
return kept
