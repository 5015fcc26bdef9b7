-- claim: a worker with free slots takes up to ARGV[1] jobs.
-- KEYS: queued processing payload wake
-- ARGV: n (free slots), rearm ('1' when the worker was woken by the marker)
-- INCLUDE: claim
-- Returns {id, token, payload or false, ...}.
-- Keeps: an ID leaves queued and enters processing in the same step.
local n = tonumber(ARGV[1])
local ids, payloads = claim_read(n)
return claim_write(ids, payloads, n, ARGV[2] == '1')
