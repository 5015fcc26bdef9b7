-- claim: a worker with free slots takes up to ARGV[1] jobs (due scheduled jobs
-- join their places first), as the queue's flow control allows.
-- KEYS: queued processing leases payload scheduled options attempts wake prioritized sequence groups gactive glimited control limiter deadline events
-- ARGV: n (free slots), rearm ('1' when the worker was woken by the marker),
--       lease (ms)
-- INCLUDE: present events enqueue claim
-- Returns what claim_write returns (lib/claim.lua).
-- Keeps: an ID leaves its waiting place and enters processing, with a lease,
-- in the same step. Every key is read before the first write, so foreign data
-- fails the call before it changes anything.
local n, rearm = tonumber(ARGV[1]), ARGV[2] == '1'
local o = optional({ 'payload', 'scheduled', 'options', 'attempts', 'deadline', 'prioritized', 'control', 'groups', 'glimited' })
local due = claim_due(o, o.scheduled and clock() or 0)
-- An empty plain queue with nothing due: nothing to write, so nothing more to
-- check (an idle worker's claim stays this cheap).
if n > 0 and #due == 0 and not (o.prioritized or o.control or o.groups or o.glimited) and redis.call('LLEN', K.queued) == 0 then
  return claim_write(o, { n = n, asked = n, blocked = false }, {}, due, false, 0)
end
local plan = claim_check(o, n, rearm, false, due, 0)
local ids = claim_pop(o, plan, due)
return claim_write(o, plan, ids, due, rearm, tonumber(ARGV[3]))
