-- claim: a worker with free slots takes up to ARGV[1] jobs (due scheduled jobs
-- join the queue first).
-- KEYS: queued processing leases payload scheduled options attempts wake deadline
-- ARGV: n (free slots), rearm ('1' when the worker was woken by the marker),
--       lease (ms)
-- INCLUDE: present enqueue claim
-- Returns what claim_write returns (lib/claim.lua).
-- Keeps: an ID leaves queued and enters processing, with a lease, in the same
-- step. Every key is read before the first write, so foreign data fails the
-- call before it changes anything.
local n, rearm = tonumber(ARGV[1]), ARGV[2] == '1'
local o = optional({ 'payload', 'scheduled', 'options', 'attempts', 'deadline' })
local due = claim_due(o, o.scheduled and clock() or 0)
-- An empty queue with nothing due: nothing to write, so nothing more to check
-- (an idle worker's claim stays this cheap).
if n > 0 and #due == 0 and redis.call('LLEN', K.queued) == 0 then return claim_write(o, {}, due, n, false, 0) end
claim_check(o, rearm, false)
local ids = claim_pop(n, due)
return claim_write(o, ids, due, n, rearm, tonumber(ARGV[3]))
