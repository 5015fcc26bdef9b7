-- complete: end successful runs, then claim up to ARGV[1] next jobs for the
-- slots they free (one round trip per batch of completions).
-- KEYS: queued committed processing payload rerun wake
-- ARGV: n (jobs to claim), rearm ('1'/'0'), then pairs: id, token
-- INCLUDE: end-runs enqueue claim
-- Returns {flags, id, token, payload, ...}: flags has '1' for each pair that
-- was still the current claim and '0' for a stale one, which changed nothing.
-- Keeps: a finished ID leaves processing and committed together (so it can be
-- queued again); with a pending rerun it moves from processing back to queued.
local ids, tokens = {}, {}
for i = 3, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
local flags, again, over = end_runs(ids, tokens)
if #over > 0 then
  redis.call('SREM', K.committed, unpack(over))
  redis.call('HDEL', K.payload, unpack(over))
end
enqueue(again)
local out = claim(tonumber(ARGV[1]), ARGV[2] == '1')
table.insert(out, 1, flags)
return out
