-- fail: end failed runs (the handler threw, called done(err) or timed out), then
-- claim up to ARGV[1] next jobs for the freed slots.
-- KEYS: queued committed processing leases payload rerun failed failinfo errors wake
-- ARGV: n, rearm, lease (ms), error log size, error log TTL (s), then triples:
--       id, token, error JSON
-- INCLUDE: present end-runs enqueue claim record-failure
-- Returns {flags, token, id, payload, ...} as complete does.
-- Keeps: a failed ID leaves processing and committed (its payload stays for
-- inspection with its failure record); with a pending rerun it is queued again.
-- Every key is read before the first write (the pop).
local logSize, logTtl = tonumber(ARGV[4]), tonumber(ARGV[5])
local ids, tokens, errs = {}, {}, {}
for i = 6, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
  errs[ARGV[i]] = ARGV[i + 2]
end
local n = tonumber(ARGV[1])
local withPayload = present(K.payload, 'hash')
local withRerun = present(K.rerun, 'set')
present(K.committed, 'set')
record_failure_check()
local flags, live, again, over = end_runs_read(ids, tokens, withRerun)
claim_check(ARGV[2] == '1', true)
local len = #again > 0 and enqueue_read() or 0
local next, payloads = claim_pop(n, withPayload)

end_runs_write(live, again)
if #over > 0 then redis.call('SREM', K.committed, unpack(over)) end
enqueue(again, len - #next)
local out = claim_write(next, payloads, n, ARGV[2] == '1', tonumber(ARGV[3]))
for _, id in ipairs(live) do record_failure(id, errs[id], logSize, logTtl) end
table.insert(out, 1, flags)
return out
