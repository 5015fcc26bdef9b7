-- retry-failed: failed IDs go back to the tail of the queue with fresh
-- attempts (their payload and options stay). With no IDs it takes the first
-- `page` failure records.
-- KEYS: queued committed attempts stalls failed failinfo wake options prioritized sequence groups gactive glimited control events
-- ARGV: page (used when no ids are given), then ids
-- INCLUDE: present events enqueue
-- Returns {requeued, failure records looked at}.
-- Keeps: an ID leaves the failed zset and enters committed and the queued list
-- in one step. An ID that is committed again already (it was added anew) only
-- loses its failure record, so it is never in two states. Every key is read
-- before the first write.
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then ids = redis.call('ZRANGE', K.failed, 0, tonumber(ARGV[1]) - 1) end
if #ids == 0 then return { 0, 0 } end
local scores = redis.call('ZMSCORE', K.failed, unpack(ids))
local member = redis.call('SMISMEMBER', K.committed, unpack(ids))
present(K.failinfo, 'hash')
local o = optional({ 'attempts', 'stalls' })
local records, back, seen = {}, {}, {}
for i, id in ipairs(ids) do
  if scores[i] and not seen[id] then
    seen[id] = true
    records[#records + 1] = id
    if member[i] == 0 then back[#back + 1] = id end
  end
end
if #records == 0 then return { 0, 0 } end
enqueue_read(back)
if #back > 0 then events_read() end
redis.call('ZREM', K.failed, unpack(records))
redis.call('HDEL', K.failinfo, unpack(records))
if #back > 0 then
  redis.call('SADD', K.committed, unpack(back))
  if o.attempts then redis.call('HDEL', K.attempts, unpack(back)) end
  if o.stalls then redis.call('HDEL', K.stalls, unpack(back)) end
  enqueue(back)
  for _, id in ipairs(back) do emit('added', id) end
end
return { #back, #records }
