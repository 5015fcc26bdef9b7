-- complete: end successful runs, then claim up to ARGV[1] next jobs for the
-- slots they free (one round trip per batch of completions).
-- KEYS: queued committed processing leases payload rerun wake
-- ARGV: n (jobs to claim), rearm ('1'/'0'), lease (ms), then pairs: id, token
-- INCLUDE: present end-runs enqueue claim
-- Returns {flags, token, id, payload, ...}: flags has '1' for each pair that
-- was still the current claim and '0' for a stale one, which changed nothing;
-- the rest is the claim, as claim.lua returns it.
-- Keeps: a finished ID leaves processing and committed together (so it can be
-- queued again); with a pending rerun it moves from processing back to queued.
-- Every key is read before the first write (the pop).
local ids, tokens = {}, {}
for i = 4, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
local n = tonumber(ARGV[1])
-- Payloads and reruns are optional: one EXISTS skips both when neither is used.
local withPayload, withRerun = false, false
if redis.call('EXISTS', K.payload, K.rerun) > 0 then
  withPayload = present(K.payload, 'hash')
  withRerun = present(K.rerun, 'set')
end
present(K.committed, 'set')
local flags, live, again, over = end_runs_read(ids, tokens, withRerun)
claim_check(ARGV[2] == '1', true)
local len = #again > 0 and enqueue_read() or 0
local next, payloads = claim_pop(n, withPayload)

end_runs_write(live, again)
if #over > 0 then
  redis.call('SREM', K.committed, unpack(over))
  if withPayload then redis.call('HDEL', K.payload, unpack(over)) end
end
enqueue(again, len - #next)
local out = claim_write(next, payloads, n, ARGV[2] == '1', tonumber(ARGV[3]))
table.insert(out, 1, flags)
return out
