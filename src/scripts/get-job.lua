-- get-job: everything kept for one ID, read in one step (read only).
-- KEYS: committed processing scheduled failed payload options attempts progress failinfo results resultorder
-- ARGV: id
-- Returns {state, score or false, payload or false, options JSON or false,
-- failed runs or false, progress JSON or false, last error JSON or false}, or
-- false when the ID is not in the queue. state is 'processing' (score: the
-- claim time in µs), 'scheduled' (score: the due time in ms), 'queued' or
-- 'completed' (score: when its last run finished, ms; then an 8th element:
-- its kept result JSON), else 'failed' (score: times it failed for good).
local id = ARGV[1]
local state, score
score = redis.call('ZSCORE', K.processing, id)
if score then
  state = 'processing'
else
  score = redis.call('ZSCORE', K.scheduled, id)
  if score then
    state = 'scheduled'
  elseif redis.call('SISMEMBER', K.committed, id) == 1 then
    state = 'queued'
  else
    local kept = redis.call('HGET', K.results, id)
    if kept and string.sub(kept, 1, 1) == 'r' then
      return { 'completed', redis.call('ZSCORE', K.resultorder, id), redis.call('HGET', K.payload, id), redis.call('HGET', K.options, id),
        redis.call('HGET', K.attempts, id), false, false, string.sub(kept, 2) }
    end
    score = redis.call('ZSCORE', K.failed, id)
    if not score then return false end
    state = 'failed'
  end
end
local progress, err = false, false
if state == 'processing' then progress = redis.call('HGET', K.progress, id) end
if state == 'failed' then err = redis.call('HGET', K.failinfo, id) end
return {
  state, score or false,
  redis.call('HGET', K.payload, id),
  redis.call('HGET', K.options, id),
  redis.call('HGET', K.attempts, id),
  progress, err,
}
