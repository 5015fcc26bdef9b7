-- drain: remove a page of the waiting jobs (queued, prioritized, grouped and
-- scheduled) with everything kept for them; running jobs are left alone.
-- KEYS: queued scheduled committed payload options attempts stalls prioritized groups deadline events
-- ARGV: page (IDs taken from each waiting place)
-- INCLUDE: present events
-- Returns {IDs removed, 1 when more may be left}; the caller calls again while
-- more are left.
-- Keeps: the IDs leave their state and committed in one step. Every key is
-- read before the first write.
local page = tonumber(ARGV[1])
local queued = redis.call('LRANGE', K.queued, 0, page - 1)
local scheduled = redis.call('ZRANGE', K.scheduled, 0, page - 1)
local prioritized = redis.call('ZRANGE', K.prioritized, 0, page - 1)
-- one group per call: its list's first page
local group = redis.call('ZRANGE', K.groups, 0, 0)[1]
local list = group and string.sub(K.groups, 1, -7) .. 'g:' .. group
local grouped = {}
if list then
  present(list, 'list')
  grouped = redis.call('LRANGE', list, 0, page - 1)
end
present(K.committed, 'set')
local o = optional({ 'payload', 'options', 'attempts', 'stalls', 'deadline' })
if #queued + #scheduled + #prioritized + #grouped > 0 then events_read() end
if #queued > 0 then redis.call('LTRIM', K.queued, #queued, -1) end
if #scheduled > 0 then redis.call('ZREM', K.scheduled, unpack(scheduled)) end
if #prioritized > 0 then redis.call('ZREM', K.prioritized, unpack(prioritized)) end
if list then
  redis.call('LTRIM', list, #grouped, -1)
  if redis.call('LLEN', list) == 0 then redis.call('ZREM', K.groups, group) end
end
local removed = 0
for _, ids in ipairs({ queued, scheduled, prioritized, grouped }) do
  if #ids > 0 then
    redis.call('SREM', K.committed, unpack(ids))
    forget(o, ids)
    removed = removed + #ids
    for _, id in ipairs(ids) do emit('removed', id) end
  end
end
local more = #queued == page or #scheduled == page or #prioritized == page or redis.call('ZCARD', K.groups) > 0
return { removed, more and 1 or 0 }
