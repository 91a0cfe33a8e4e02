-- beatcore report: append a worker's report of a run to its entry's log (record_outcome).
-- KEYS: 1 defs, 2 running, 3 due, 4 report log key prefix (entry <name>'s log is KEYS[4] .. <name>)
-- ARGV: 1 name, 2 task id, 3 final ('1' | '0'), 4 the log element ('<task id>|<final>|<JSON>'),
--       5 reports kept per entry, 6 now (epoch microseconds)
-- Returns 0 when the entry does not exist (nothing written), else 1.
-- A final report of the run an occurrence is held for (the running fact is
-- '<task id>|1|0|...': held, not ended when the ack wrote it), when no final report of that run
-- came before, makes the entry due now if it is in the due index (ZADD XX LT: never an entry
-- in flight, whose ack decides, nor a disabled one). A log key of another type is left alone.
local name, task = ARGV[1], ARGV[2]
if redis.call('HEXISTS', KEYS[1], name) == 0 then return 0 end
local key = KEYS[4] .. name
local due_now = false
if ARGV[3] == '1' then
  local fact = redis.call('HGET', KEYS[2], name)
  local held = task .. '|1|0|'
  if fact and string.sub(fact, 1, #held) == held then
    due_now = true
    local ended = task .. '|1|'
    local kept = redis.pcall('LRANGE', key, 0, -1)
    if type(kept) == 'table' and kept['err'] == nil then
      for _, report in ipairs(kept) do
        if string.sub(report, 1, #ended) == ended then
          due_now = false
          break
        end
      end
    end
  end
end
local length = redis.pcall('RPUSH', key, ARGV[4])
local cap = tonumber(ARGV[5])
if type(length) == 'number' and length > cap then redis.call('LTRIM', key, -cap, -1) end
if due_now then redis.call('ZADD', KEYS[3], 'XX', 'LT', ARGV[6], name) end
return 1
