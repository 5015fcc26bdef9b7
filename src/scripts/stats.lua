-- stats: the counts of a queue, read in one step so they agree (read only).
-- KEYS: queued committed processing scheduled failed prioritized groups control
-- Returns {queued, committed, processing, failed, scheduled, paused (0/1)}.
-- queued counts every waiting place: the queued list, the prioritized zset
-- and each group's list (one LLEN per group with waiting jobs).
local queued = redis.call('LLEN', K.queued) + redis.call('ZCARD', K.prioritized)
local base = string.sub(K.groups, 1, -7)
for _, g in ipairs(redis.call('ZRANGE', K.groups, 0, -1)) do
  queued = queued + redis.call('LLEN', base .. 'g:' .. g)
end
return {
  queued,
  redis.call('SCARD', K.committed),
  redis.call('ZCARD', K.processing),
  redis.call('ZCARD', K.failed),
  redis.call('ZCARD', K.scheduled),
  redis.call('HGET', K.control, 'paused') == '1' and 1 or 0,
}
