-- repeat-fire: one occurrence of a repeatable job. It adds the job as an add
-- would (lib/add.lua: a waiting or processing ID follows the duplicate policy)
-- and moves the repeat on to its next occurrence, in one step.
-- KEYS: repeats repeatspec queued committed processing payload rerun scheduled options attempts stalls failed failinfo wake superseded deadline prioritized sequence groups gactive glimited control events
-- ARGV: id, the occurrence (ms: its score as read), sha1 of its stored spec as
--       read, the next occurrence (ms; '' when the schedule is over: the repeat
--       goes), mode (policy for a processing ID), payload JSON or '', options
--       JSON or '', policy for a waiting ID, maxWait (ms or '')
-- INCLUDE: present events enqueue schedule add
-- Returns {add code ('0'..'4', see add_jobs) or false when this occurrence was
-- fired already or its repeat changed or went, ms until the repeat's next
-- occurrence or false}.
-- Keeps: one firing per occurrence, however many workers try: the firing is
-- fenced by the occurrence's time and spec (the count in the spec changes
-- with each firing), and the add happens in the same step that moves the
-- repeat on, so no occurrence is lost or doubled. Every key is read before the
-- first write (add_jobs reads its keys before it writes).
local id = ARGV[1]
local score = redis.call('ZSCORE', K.repeats, id)
local stored = redis.call('HGET', K.repeatspec, id)
local now = clock()
if not score or tonumber(score) ~= tonumber(ARGV[2]) or not stored or redis.sha1hex(stored) ~= ARGV[3] then
  return { false, score and tonumber(score) - now or false }
end
local sp = string.find(stored, ' ', 1, true)
local code = add_jobs({ id }, { { payload = ARGV[6], options = ARGV[7] } }, ARGV[5], { policy = ARGV[8], maxWait = tonumber(ARGV[9]) })[1]
if ARGV[4] == '' then
  redis.call('ZREM', K.repeats, id)
  redis.call('HDEL', K.repeatspec, id)
  return { code, false }
end
redis.call('ZADD', K.repeats, ARGV[4], id)
redis.call('HSET', K.repeatspec, id, string.format('%d', tonumber(string.sub(stored, 1, sp - 1)) + 1) .. string.sub(stored, sp))
return { code, tonumber(ARGV[4]) - now }
