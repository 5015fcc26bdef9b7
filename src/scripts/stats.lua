-- stats: the counts of a queue, read in one step so they agree (read only).
-- KEYS: queued committed processing scheduled failed
-- Returns {queued, committed, processing, failed, scheduled}.
return {
  redis.call('LLEN', K.queued),
  redis.call('SCARD', K.committed),
  redis.call('ZCARD', K.processing),
  redis.call('ZCARD', K.failed),
  redis.call('ZCARD', K.scheduled),
}
