-- set-control: change the queue's flow control (rate limits, global and group
-- concurrency), for every worker in every process.
-- KEYS: queued wake options prioritized sequence groups gactive glimited control resume workers
-- ARGV: how long (ms) markers are kept for workers on their way to wait, then
--       pairs: field, value ('' removes the field): max, duration,
--       concurrency, gconcurrency, gmax, gduration
-- INCLUDE: present enqueue
-- Returns 1.
-- Keeps: groups held back only by a group concurrency that no longer holds
-- them take turns again; idle workers get a wake-up marker and workers held
-- back by a rate limit a marker on the resume list, so a raised or lifted
-- limit takes effect at once. Every key is read before the first write.
present(K.control, 'hash')
redis.call('LLEN', K.resume)
local workers = redis.call('ZCARD', K.workers)
enqueue_read()
group_keys_read({})
local set, del = {}, {}
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '' then del[#del + 1] = ARGV[i] else
    set[#set + 1] = ARGV[i]
    set[#set + 1] = ARGV[i + 1]
  end
end
local blocked = redis.call('ZRANGEBYSCORE', K.groups, exact(BLOCKED), exact(BLOCKED))
if #set > 0 then redis.call('HSET', K.control, unpack(set)) end
if #del > 0 then redis.call('HDEL', K.control, unpack(del)) end
control = nil
for _, g in ipairs(blocked) do
  if group_free(g) then group_turn(g) end
end
wake_up()
local markers = {}
for i = 1, math.min(math.max(workers, 1), 10000) do markers[i] = '1' end
redis.call('RPUSH', K.resume, unpack(markers))
redis.call('PEXPIRE', K.resume, ARGV[1])
return 1
