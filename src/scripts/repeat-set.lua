-- repeat-set: create or replace the schedule of a repeatable job, idempotently.
-- KEYS: repeats repeatspec wake
-- ARGV: id, spec JSON (canonical: the same repeat() call writes the same
--       string), first occurrence: ms, '+ms' (from now, on the Redis clock), or
--       '' (none: the schedule ends before it starts, so any old one goes)
-- INCLUDE: present
-- Returns {'created' | 'unchanged' | 'replaced' | 'removed' | 'none', next
-- occurrence (ms) or false, ms until it or false}.
-- Keeps: repeats and repeatspec hold the same IDs; a spec is kept as
-- '<occurrences so far> <spec JSON>'. The same spec again changes nothing
-- (neither its next occurrence nor its count), so processes that all call
-- repeat() as they start leave one schedule and lose no occurrence. When the
-- new occurrence is the earliest, one 'r' marker on the wake list tells an idle
-- worker to look at the repeats. Every key is read before the first write.
local id, spec, first = ARGV[1], ARGV[2], ARGV[3]
local score = redis.call('ZSCORE', K.repeats, id)
local stored = redis.call('HGET', K.repeatspec, id)
local now = clock()
if score and stored then
  local sp = string.find(stored, ' ', 1, true)
  if sp and string.sub(stored, sp + 1) == spec then return { 'unchanged', tonumber(score), tonumber(score) - now } end
end
if first == '' then
  if not score and not stored then return { 'none', false, false } end
  redis.call('ZREM', K.repeats, id)
  redis.call('HDEL', K.repeatspec, id)
  return { 'removed', false, false }
end
local at = string.sub(first, 1, 1) == '+' and now + tonumber(string.sub(first, 2)) or tonumber(first)
local head = redis.call('ZRANGE', K.repeats, 0, 0, 'WITHSCORES')
local wake = false
if not head[2] or at < tonumber(head[2]) then wake = not redis.call('LPOS', K.wake, 'r') end

redis.call('ZADD', K.repeats, at, id)
redis.call('HSET', K.repeatspec, id, '0 ' .. spec)
if wake then redis.call('RPUSH', K.wake, 'r') end
return { (score or stored) and 'replaced' or 'created', at, at - now }
