-- beatcore last runs: the newest run record of each named entry, with the newest worker
-- reports of its log (the CLI's last-outcome column). KEYS: 1 run-history key prefix,
-- 2 report log key prefix (entry <name>'s keys are KEYS[n] .. <name>, in the same hash tag).
-- ARGV: 1 how many of the newest reports, 2.. the names.
-- Returns one element per name: false when it has no run (or its history key holds another
-- Redis type), else {newest record, {report...}} (reports oldest first; none when the log
-- key holds another type).
local out = {}
local count = tonumber(ARGV[1])
for i = 2, #ARGV do
  local name = ARGV[i]
  local newest = redis.pcall('LINDEX', KEYS[1] .. name, -1)
  if type(newest) ~= 'string' then
    out[#out + 1] = false
  else
    local reports = redis.pcall('LRANGE', KEYS[2] .. name, -count, -1)
    if type(reports) ~= 'table' or reports.err then reports = {} end
    out[#out + 1] = {newest, reports}
  end
end
return out
