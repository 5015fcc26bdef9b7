-- resume: workers start jobs again after pause().
-- KEYS: control wake resume workers events
-- ARGV: how long (ms) resume markers are kept for workers still on their way to wait
-- INCLUDE: present events
-- Returns 1 when the queue was paused, 0 otherwise.
-- Keeps: each worker waiting for resume() takes one marker (one per live
-- worker, kept a short while); the 'p' markers pause() left are dropped and
-- one wake-up marker is left for idle workers. Every key is read before the
-- first write.
present(K.control, 'hash')
redis.call('LLEN', K.wake)
redis.call('LLEN', K.resume)
local workers = redis.call('ZCARD', K.workers)
if redis.call('HGET', K.control, 'paused') ~= '1' then return 0 end
events_read()
emit('resumed', '')
redis.call('HDEL', K.control, 'paused')
redis.call('DEL', K.wake, K.resume)
redis.call('RPUSH', K.wake, '1')
local markers = {}
for i = 1, math.min(math.max(workers, 1), 10000) do markers[i] = '1' end
redis.call('RPUSH', K.resume, unpack(markers))
redis.call('PEXPIRE', K.resume, ARGV[1])
return 1
