-- beatcore names: one HSCAN step over the definitions hash, replying with the names only
-- (HSCAN itself sends every definition along: about 110 MB for a walk over a million
-- entries). KEYS: 1 defs, 2 corrupt. ARGV: 1 cursor, 2 count. On the first step (cursor
-- '0') the names of the notes on unreadable records come too.
-- Returns {next cursor, number of noted names, noted name..., name...}.
local step = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local noted = {}
if ARGV[1] == '0' then noted = redis.call('HKEYS', KEYS[2]) end
local out = {step[1], #noted}
for _, name in ipairs(noted) do out[#out + 1] = name end
local found = step[2]
for i = 1, #found, 2 do out[#out + 1] = found[i] end
return out
