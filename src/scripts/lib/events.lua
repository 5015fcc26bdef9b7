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
-- emit_hold() / emit_flush(): between them, the emits of a script call go
-- into one entry (runs of one kind, each starting 'event <name>'), written by
-- the flush: a batch's endings and the claims after them cost one XADD.
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

-- the entry being held, when emit_hold() was called, and its last run's kind
local held, held_kind
-- an entry held past this many fields is written, so unpack stays within
-- Lua's limit (a batch adds at most about 4000)
local HOLD_MAX = 3000

local function entry()
  return { 'XADD', K.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*' }
end

local function emit_flush()
  if held and #held > 6 then redis.call(unpack(held)) end
  held, held_kind = nil, nil
end

local function emit_hold()
  if EVENTS_MAXLEN > 0 then held = entry() end
end

-- the entry to add events of kind `name` to: the held one, or one of their
-- own; a run of another kind starts with 'event <name>'
local function emit_to(name)
  if held and #held > HOLD_MAX then
    emit_flush()
    emit_hold()
  end
  local args = held or entry()
  if args ~= held or held_kind ~= name then
    args[#args + 1] = 'event'
    args[#args + 1] = name
    if held then held_kind = name end
  end
  return args
end

local function emit(name, id, ...)
  if EVENTS_MAXLEN == 0 then return end
  local args = emit_to(name)
  for _, v in ipairs({ 'id', id, ... }) do args[#args + 1] = v end
  if args ~= held then redis.call(unpack(args)) end
end

local function emit_each(name, ids, fields)
  if EVENTS_MAXLEN == 0 or #ids == 0 then return end
  local args = emit_to(name)
  for i, id in ipairs(ids) do
    args[#args + 1] = 'id'
    args[#args + 1] = id
    if fields then
      for _, v in ipairs(fields(i)) do args[#args + 1] = v end
    end
  end
  if args ~= held then redis.call(unpack(args)) end
end
