-- pause: workers of the queue, in every process, start no job until resume().
-- KEYS: control wake workers events
-- INCLUDE: present events
-- Returns 1 when the queue was running, 0 when it was paused already.
-- Keeps: running jobs go on; adds are accepted. Idle workers (blocked on the
-- wake list) each take a 'p' marker and wait for resume() without claiming;
-- busy ones learn it from their next claim. Every key is read before the
-- first write.
present(K.control, 'hash')
redis.call('LLEN', K.wake)
local workers = redis.call('ZCARD', K.workers)
if redis.call('HGET', K.control, 'paused') == '1' then return 0 end
events_read()
emit('paused', '')
redis.call('HSET', K.control, 'paused', '1')
redis.call('DEL', K.wake)
local markers = {}
for i = 1, math.min(workers, 10000) do markers[i] = 'p' end
if #markers > 0 then redis.call('RPUSH', K.wake, unpack(markers)) end
return 1
