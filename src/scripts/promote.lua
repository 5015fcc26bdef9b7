-- promote: a scheduled job runs now: it moves to the tail of the queue.
-- KEYS: queued scheduled wake options prioritized sequence groups gactive glimited control
-- ARGV: id
-- INCLUDE: present enqueue
-- Returns 1 when the ID was scheduled (and is queued now), 0 otherwise.
-- Keeps: the ID moves from scheduled to queued in one step and stays
-- committed. Every key is read before the first write.
local due = redis.call('ZSCORE', K.scheduled, ARGV[1])
enqueue_read({ ARGV[1] })
if not due then return 0 end
redis.call('ZREM', K.scheduled, ARGV[1])
enqueue({ ARGV[1] })
return 1
