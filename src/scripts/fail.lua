-- fail: end failed runs (the handler threw, called done(err) or timed out), then
-- claim up to ARGV[1] next jobs for the freed slots.
-- KEYS: queued committed processing payload rerun failed failinfo errors wake
-- ARGV: n, rearm, error log size, error log TTL (s), then triples: id, token, error JSON
-- INCLUDE: end-runs enqueue claim record-failure
-- Returns {flags, id, token, payload, ...} as complete does.
-- Keeps: a failed ID leaves processing and committed (its payload stays for
-- inspection with its failure record); with a pending rerun it is queued again.
local logSize, logTtl = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids, tokens, errs = {}, {}, {}
for i = 5, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
  errs[ARGV[i]] = ARGV[i + 2]
end
local flags, again, over = end_runs(ids, tokens)
for _, id in ipairs(again) do record_failure(id, errs[id], logSize, logTtl) end
for _, id in ipairs(over) do record_failure(id, errs[id], logSize, logTtl) end
if #over > 0 then
  redis.call('SREM', K.committed, unpack(over))
end
enqueue(again)
local out = claim(tonumber(ARGV[1]), ARGV[2] == '1')
table.insert(out, 1, flags)
return out
