-- release: a worker hands back runs: a closing worker the runs it will not
-- finish, a handler that threw a RateLimitError its run. Each goes to the head
-- of its waiting place, not counted as a failure, attempt or stall; a late
-- result changes nothing. With a wait, the whole queue starts no job until it
-- has passed (control field until).
-- KEYS: queued processing leases rerun progress wake superseded options prioritized sequence groups gactive glimited control
-- ARGV: wait (ms, '' or 0 = none), then pairs: id, token
-- INCLUDE: present enqueue
-- Returns how many runs it handed back (stale ones are left alone).
-- Keeps: an ID moves from processing (and leases) to queued in one step, and
-- stays committed. Every key is read before the first write.
local ids, tokens = {}, {}
for i = 2, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
if #ids == 0 then return 0 end
local wait = tonumber(ARGV[1]) or 0
if wait > 0 then present(K.control, 'hash') end
local scores = redis.call('ZMSCORE', K.processing, unpack(ids))
local o = optional({ 'rerun', 'progress', 'superseded' })
present(K.leases, 'zset')
local back = {}
for i, id in ipairs(ids) do
  if scores[i] and tonumber(scores[i]) == tonumber(tokens[i]) then back[#back + 1] = id end
end
if #back == 0 then return 0 end
enqueue_read(back)
local ended = group_end_read(back)
redis.call('ZREM', K.processing, unpack(back))
redis.call('ZREM', K.leases, unpack(back))
if o.rerun then redis.call('SREM', K.rerun, unpack(back)) end
if o.superseded then redis.call('SREM', K.superseded, unpack(back)) end
if o.progress then redis.call('HDEL', K.progress, unpack(back)) end
if wait > 0 then
  local now = clock()
  local held = tonumber(redis.call('HGET', K.control, 'until')) or 0
  if now + wait > held then redis.call('HSET', K.control, 'until', now + wait) end
end
group_end(ended)
enqueue(back, true)
return #back
