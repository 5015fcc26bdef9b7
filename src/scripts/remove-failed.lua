-- remove-failed: forget the failure records of IDs; with a cutoff, only those
-- whose last failure is older than it (trimming by age).
-- KEYS: committed payload options attempts stalls failed failinfo
-- INCLUDE: present
-- ARGV: cutoff (ms since the epoch, or '' for none), then ids
-- Returns how many records it removed.
-- Keeps: what is kept for a committed ID (queued, scheduled or processing) is
-- left alone; that of an ID no longer committed goes with its failure record. Every key
-- is read before the first write.
local cutoff = tonumber(ARGV[1])
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return 0 end
local scores = redis.call('ZMSCORE', K.failed, unpack(ids))
local infos = redis.call('HMGET', K.failinfo, unpack(ids))
local gone = {}
for i, id in ipairs(ids) do
  if scores[i] then
    local at
    if cutoff then
      local ok, record = pcall(cjson.decode, infos[i] or '')
      at = ok and type(record) == 'table' and tonumber(record.time) or nil
    end
    -- a record without a readable time counts as old
    if not cutoff or not at or at < cutoff then gone[#gone + 1] = id end
  end
end
if #gone == 0 then return 0 end
local committed = redis.call('SMISMEMBER', K.committed, unpack(gone))
local o = optional({ 'payload', 'options', 'attempts', 'stalls' })
redis.call('ZREM', K.failed, unpack(gone))
redis.call('HDEL', K.failinfo, unpack(gone))
local done = {}
for i, id in ipairs(gone) do
  if committed[i] == 0 then done[#done + 1] = id end
end
forget(o, done)
return #gone
