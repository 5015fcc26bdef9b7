-- remove-job: take an ID out of whatever state it is in (queued, scheduled,
-- processing or failed), with everything kept for it.
-- KEYS: queued committed scheduled processing leases rerun progress payload options attempts stalls failed failinfo superseded deadline wake prioritized sequence groups gactive glimited control events results resultorder
-- ARGV: id
-- INCLUDE: present events enqueue
-- Returns 1 when the ID was in the queue (committed, failed or with a kept
-- result), 0 otherwise; a 'removed' event tells waiters.
-- Keeps: the ID leaves committed together with the one state it was in, so
-- the invariant holds. A processing run is cancelled: with no processing entry
-- its claim token matches nothing, so its late result changes nothing and its
-- worker's next renewal aborts its signal. Every key is read before the first
-- write. Removing a queued ID from the queued list (or a group's list) is an
-- LREM: O(length of the list); from the prioritized zset O(log n).
local id = ARGV[1]
local committed = redis.call('SISMEMBER', K.committed, id) == 1
local processing = redis.call('ZSCORE', K.processing, id)
local scheduled = redis.call('ZSCORE', K.scheduled, id)
local failed = redis.call('ZSCORE', K.failed, id)
redis.call('LLEN', K.queued)
present(K.leases, 'zset')
present(K.failinfo, 'hash')
local o = optional({ 'rerun', 'progress', 'payload', 'options', 'attempts', 'stalls', 'superseded', 'deadline' })
present(K.results, 'hash')
local kept = redis.call('ZSCORE', K.resultorder, id)
if not committed and not processing and not scheduled and not failed and not kept then return 0 end
events_read()
local groups = processing and group_end_read({ id }) or {}
local queued = committed and not processing and not scheduled
if queued then unqueue_read({ id }) end

if processing then
  redis.call('ZREM', K.processing, id)
  redis.call('ZREM', K.leases, id)
  if o.rerun then redis.call('SREM', K.rerun, id) end
  if o.superseded then redis.call('SREM', K.superseded, id) end
  if o.progress then redis.call('HDEL', K.progress, id) end
  group_end(groups)
elseif scheduled then
  redis.call('ZREM', K.scheduled, id)
elseif queued then
  unqueue(id)
end
if committed then redis.call('SREM', K.committed, id) end
forget(o, { id })
if failed then
  redis.call('ZREM', K.failed, id)
  redis.call('HDEL', K.failinfo, id)
end
if kept then
  redis.call('ZREM', K.resultorder, id)
  redis.call('HDEL', K.results, id)
end
emit('removed', id)
return 1
