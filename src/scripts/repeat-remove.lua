-- repeat-remove: forget the schedule of a repeatable job (a job it added stays).
-- KEYS: repeats repeatspec
-- ARGV: id
-- Returns 1 when there was one, else 0.
-- Keeps: repeats and repeatspec hold the same IDs. Both keys are read first.
local id = ARGV[1]
local score = redis.call('ZSCORE', K.repeats, id)
local spec = redis.call('HEXISTS', K.repeatspec, id)
if not score and spec == 0 then return 0 end
redis.call('ZREM', K.repeats, id)
redis.call('HDEL', K.repeatspec, id)
return 1
