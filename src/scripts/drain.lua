-- drain: remove a page of the waiting jobs (queued and scheduled) with
-- everything kept for them; running jobs are left alone.
-- KEYS: queued scheduled committed payload options attempts stalls events
-- ARGV: page (IDs taken from each of queued and scheduled)
-- INCLUDE: present events
-- Returns {queued removed, scheduled removed}; the caller calls again while a
-- count equals the page.
-- Keeps: the IDs leave their state and committed in one step. Every key is
-- read before the first write.
local page = tonumber(ARGV[1])
local queued = redis.call('LRANGE', K.queued, 0, page - 1)
local scheduled = redis.call('ZRANGE', K.scheduled, 0, page - 1)
present(K.committed, 'set')
local o = optional({ 'payload', 'options', 'attempts', 'stalls' })
if #queued + #scheduled > 0 then events_read() end
if #queued > 0 then redis.call('LTRIM', K.queued, #queued, -1) end
if #scheduled > 0 then redis.call('ZREM', K.scheduled, unpack(scheduled)) end
for _, ids in ipairs({ queued, scheduled }) do
  if #ids > 0 then
    redis.call('SREM', K.committed, unpack(ids))
    forget(o, ids)
    for _, id in ipairs(ids) do emit('removed', id) end
  end
end
return { #queued, #scheduled }
