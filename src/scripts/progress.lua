-- progress: a running job reports its progress (JSON), kept with the run.
-- KEYS: processing progress events
-- ARGV: id, token, progress JSON
-- INCLUDE: present events
-- Returns 1 when stored, 0 when the run is no longer the current claim.
-- Keeps: progress exists only for processing IDs; every script that ends a
-- run removes it.
local score = redis.call('ZSCORE', K.processing, ARGV[1])
present(K.progress, 'hash')
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
events_read()
redis.call('HSET', K.progress, ARGV[1], ARGV[3])
emit('progress', ARGV[1], 'progress', ARGV[3])
return 1
