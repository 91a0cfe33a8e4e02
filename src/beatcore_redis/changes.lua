-- beatcore change log: append a batch of changes, bounded per name (changes.py).
-- KEYS: 1 the hash of per-name logs (name -> its records newest first, one per line),
--       2 the schedule-wide list (newest first), 3 meta,
--       4 what an earlier release's per-name list keys start with (the list of <name> is
--       KEYS[4] .. <name>; merged into the hash and deleted when met)
-- ARGV: 1 records kept per name (> 0), 2 k: how many schedule-wide records follow,
--       3 .. 2+k those records, oldest first, then per name: name, its new records newest first
--       joined by "\n" ('' adds none: that name's earlier list is only migrated).
-- Meta 'change_lists' is '0' once no per-name list of an earlier release can be left (set on
-- a schedule whose first change this release writes, or by the migration: changes.py); until
-- then each name of the call has its list looked for. At most a few thousand names per call
-- (Lua's unpack limit): callers chunk. Returns 1 when earlier lists may be left, else 0.
local size = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local lists = redis.call('HGET', KEYS[3], 'change_lists')
if not lists then
  -- an earlier release wrote the schedule-wide list with every per-name one
  if redis.call('EXISTS', KEYS[2]) == 0 then lists = '0' else lists = '1' end
  redis.call('HSET', KEYS[3], 'change_lists', lists)
end

local function keep(text)
  local at = 0
  for _ = 1, size do
    at = string.find(text, '\n', at + 1, true)
    if not at then return text end
  end
  return string.sub(text, 1, at - 1)
end

for first = 3, 2 + k, 1000 do
  redis.call('LPUSH', KEYS[2], unpack(ARGV, first, math.min(first + 999, 2 + k)))
end
if k > 0 then redis.call('LTRIM', KEYS[2], 0, size - 1) end

local names, added = {}, {}
for i = 3 + k, #ARGV, 2 do
  names[#names + 1] = ARGV[i]
  added[#added + 1] = ARGV[i + 1]
end
if #names == 0 then return lists == '1' and 1 or 0 end
local stored = redis.call('HMGET', KEYS[1], unpack(names))
local writes = {}
for i, name in ipairs(names) do
  local parts = {}
  if added[i] ~= '' then parts[#parts + 1] = added[i] end
  if stored[i] then parts[#parts + 1] = stored[i] end
  if lists == '1' then
    local old = KEYS[4] .. name
    local earlier = redis.call('LRANGE', old, 0, size - 1)
    if #earlier > 0 then
      parts[#parts + 1] = table.concat(earlier, '\n')
      redis.call('DEL', old)
    end
  end
  if #parts > 0 then
    writes[#writes + 1] = name
    writes[#writes + 1] = keep(table.concat(parts, '\n'))
  end
end
if #writes > 0 then redis.call('HSET', KEYS[1], unpack(writes)) end
return lists == '1' and 1 or 0
