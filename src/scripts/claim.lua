-- claim: a worker with free slots takes up to ARGV[1] jobs.
-- KEYS: queued processing leases payload wake
-- ARGV: n (free slots), rearm ('1' when the worker was woken by the marker),
--       lease (ms)
-- INCLUDE: present claim
-- Returns {token, id, payload or false, ...}, or {} when the queue is empty.
-- Keeps: an ID leaves queued and enters processing, with a lease, in the same
-- step. Every key is read before the pop (the first write), so foreign data
-- fails the call before it changes anything.
local n, rearm = tonumber(ARGV[1]), ARGV[2] == '1'
local withPayload = present(K.payload, 'hash')
claim_check(rearm, false)
local ids, payloads = claim_pop(n, withPayload)
return claim_write(ids, payloads, n, rearm, tonumber(ARGV[3]))
