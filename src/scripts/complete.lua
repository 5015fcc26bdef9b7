-- complete: end successful runs, then claim up to ARGV[1] next jobs for the
-- slots they free (one round trip per batch of completions).
-- KEYS: queued committed processing payload rerun wake
-- ARGV: n (jobs to claim), rearm ('1'/'0'), then pairs: id, token
-- INCLUDE: end-runs enqueue claim
-- Returns {flags, id, token, payload, ...}: flags has '1' for each pair that
-- was still the current claim and '0' for a stale one, which changed nothing.
-- Keeps: a finished ID leaves processing and committed together (so it can be
-- queued again); with a pending rerun it moves from processing back to queued.
-- All reads come before the first write (see add.lua).
local ids, tokens = {}, {}
for i = 3, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
local n = tonumber(ARGV[1])
local flags, live, again, over = end_runs_read(ids, tokens)
local len = #again > 0 and enqueue_read() or 0
if #over > 0 then redis.call('SCARD', K.committed) end
local next, payloads = claim_read(n)

end_runs_write(live, again)
if #over > 0 then
  redis.call('SREM', K.committed, unpack(over))
  redis.call('HDEL', K.payload, unpack(over))
end
enqueue(again, len)
local out = claim_write(next, payloads, n, ARGV[2] == '1')
table.insert(out, 1, flags)
return out
