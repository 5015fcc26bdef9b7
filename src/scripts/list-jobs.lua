-- list-jobs: one page of the IDs in one state, in that state's own order, with
-- what is kept for each (read only).
-- KEYS: queued scheduled processing failed payload options attempts progress failinfo prioritized groups
-- ARGV: state ('queued' | 'scheduled' | 'processing' | 'failed'), offset, count
-- Returns {id, score or false, payload or false, options JSON or false, failed
-- runs or false, progress JSON or false, last error JSON or false, ...}:
-- queued in the order they will run when nothing else is added: the queued
-- list, then the prioritized jobs, then each group's in turn (no score), scheduled earliest due first (due ms),
-- processing oldest claim first (claim µs), failed most failures first (times
-- failed), as getFailed lists them.
local state, first = ARGV[1], tonumber(ARGV[2])
local last = first + tonumber(ARGV[3]) - 1
local ids, scores = {}, {}
if state == 'queued' then
  -- one page across the waiting places, read as if they were one list
  local need, skip = last - first + 1, first
  local function page(len, range)
    if need <= 0 then return end
    if skip >= len then
      skip = skip - len
      return
    end
    for _, id in ipairs(range(skip, skip + need - 1)) do ids[#ids + 1] = id end
    need = last - first + 1 - #ids
    skip = 0
  end
  page(redis.call('LLEN', K.queued), function(a, b) return redis.call('LRANGE', K.queued, a, b) end)
  page(redis.call('ZCARD', K.prioritized), function(a, b) return redis.call('ZRANGE', K.prioritized, a, b) end)
  local base = string.sub(K.groups, 1, -7)
  for _, g in ipairs(need > 0 and redis.call('ZRANGE', K.groups, 0, -1) or {}) do
    local list = base .. 'g:' .. g
    page(redis.call('LLEN', list), function(a, b) return redis.call('LRANGE', list, a, b) end)
  end
else
  local key = ({ scheduled = K.scheduled, processing = K.processing, failed = K.failed })[state]
  if not key then return redis.error_reply('ERR unknown state ' .. tostring(state)) end
  local rows
  if state == 'failed' then
    rows = redis.call('ZRANGE', key, first, last, 'REV', 'WITHSCORES')
  else
    rows = redis.call('ZRANGE', key, first, last, 'WITHSCORES')
  end
  for i = 1, #rows, 2 do
    ids[#ids + 1] = rows[i]
    scores[#ids] = rows[i + 1]
  end
end
if #ids == 0 then return {} end
local payloads = redis.call('HMGET', K.payload, unpack(ids))
local options = redis.call('HMGET', K.options, unpack(ids))
local attempts = redis.call('HMGET', K.attempts, unpack(ids))
local progress = state == 'processing' and redis.call('HMGET', K.progress, unpack(ids)) or {}
local errs = state == 'failed' and redis.call('HMGET', K.failinfo, unpack(ids)) or {}
local out = {}
for i, id in ipairs(ids) do
  local n = #out
  out[n + 1] = id
  out[n + 2] = scores[i] or false
  out[n + 3] = payloads[i] or false
  out[n + 4] = options[i] or false
  out[n + 5] = attempts[i] or false
  out[n + 6] = progress[i] or false
  out[n + 7] = errs[i] or false
end
return out
