-- claim: a worker with free slots takes up to ARGV[1] jobs.
-- KEYS: queued processing payload wake
-- ARGV: n (free slots), rearm ('1' when the worker was woken by the marker)
-- INCLUDE: present claim
-- Returns {token, id, payload or false, ...}, or {} when the queue is empty.
-- Keeps: an ID leaves queued and enters processing in the same step. The
-- payload hash's type is checked before the pop, the queued list's by the pop
-- itself, so foreign data fails the call before it changes anything.
local n = tonumber(ARGV[1])
local ids, payloads = claim_pop(n, present(K.payload, 'hash'))
return claim_write(ids, payloads, n, ARGV[2] == '1')
