-- release: a closing worker hands back runs it will not finish. Each goes to
-- the head of the queued list, not counted as a failure or a stall; its late
-- result changes nothing.
-- KEYS: queued processing leases rerun progress wake superseded
-- ARGV: pairs: id, token
-- INCLUDE: present enqueue
-- Returns how many runs it handed back (stale ones are left alone).
-- Keeps: an ID moves from processing (and leases) to queued in one step, and
-- stays committed. Every key is read before the first write.
local ids, tokens = {}, {}
for i = 1, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
if #ids == 0 then return 0 end
local scores = redis.call('ZMSCORE', K.processing, unpack(ids))
local o = optional({ 'rerun', 'progress', 'superseded' })
present(K.leases, 'zset')
enqueue_read()
local back = {}
for i, id in ipairs(ids) do
  if scores[i] and tonumber(scores[i]) == tonumber(tokens[i]) then back[#back + 1] = id end
end
if #back == 0 then return 0 end
redis.call('ZREM', K.processing, unpack(back))
redis.call('ZREM', K.leases, unpack(back))
if o.rerun then redis.call('SREM', K.rerun, unpack(back)) end
if o.superseded then redis.call('SREM', K.superseded, unpack(back)) end
if o.progress then redis.call('HDEL', K.progress, unpack(back)) end
enqueue(back, true)
return #back
