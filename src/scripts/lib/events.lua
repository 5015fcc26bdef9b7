-- The queue's event stream and its kept results. A script that includes this
-- gets the queue object's settings as its first ARGV, taken off here (so the
-- script's own ARGV still start at 1): '<events MAXLEN, 0 = no events> <keep
-- results 1/0> <keep age s, 0 = no bound> <keep count, 0 = no bound>'.
-- events_read(): type-check the stream (once, and only with events on); call
-- it before the script's first write whenever the script may emit.
-- emit(name, id, ...): append one event (field pairs after the ID), trimmed
-- with MAXLEN ~; nothing with events off.
-- emit_each(name, ids, fields): the events of one kind for many IDs as ONE
-- entry (each event's fields start at its 'id'; fields(i), when given,
-- returns the i-th event's other field pairs): a batch of completions costs
-- one XADD, not one per job.
-- KEEP, KEEP_AGE, KEEP_COUNT: the keepResults option, for lib/results.lua.
-- KEYS: events
local SETTINGS = table.remove(ARGV, 1) or ''
local EVENTS_MAXLEN, KEEP, KEEP_AGE, KEEP_COUNT = string.match(SETTINGS, '^(%d+) (%d) (%d+) (%d+)$')
EVENTS_MAXLEN, KEEP = tonumber(EVENTS_MAXLEN) or 0, KEEP == '1'
KEEP_AGE, KEEP_COUNT = tonumber(KEEP_AGE) or 0, tonumber(KEEP_COUNT) or 0
local events_checked = false

local function events_read()
  if EVENTS_MAXLEN > 0 and not events_checked then
    events_checked = true
    present(K.events, 'stream')
  end
end

local function emit(name, id, ...)
  if EVENTS_MAXLEN == 0 then return end
  redis.call('XADD', K.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', name, 'id', id, ...)
end

local function emit_each(name, ids, fields)
  if EVENTS_MAXLEN == 0 or #ids == 0 then return end
  local args = { 'XADD', K.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', name }
  for i, id in ipairs(ids) do
    args[#args + 1] = 'id'
    args[#args + 1] = id
    if fields then
      for _, v in ipairs(fields(i)) do args[#args + 1] = v end
    end
  end
  redis.call(unpack(args))
end
