-- stats: the four counts of a queue, read in one step so they agree (read only).
-- KEYS: queued committed processing failed
-- Returns {queued, committed, processing, failed}.
return {
  redis.call('LLEN', K.queued),
  redis.call('SCARD', K.committed),
  redis.call('ZCARD', K.processing),
  redis.call('ZCARD', K.failed),
}
