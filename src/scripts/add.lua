-- add: publish job IDs. An ID that is not committed joins the committed set and
-- the tail of the queued list in one step; a committed one is left where it is.
-- KEYS: queued committed processing payload rerun failed failinfo wake
-- ARGV: mode ('ignore' | 'rerun'), then pairs: id, payload JSON ('' for none)
-- INCLUDE: enqueue
-- Returns one code per ID, as a string: '0' queued, '1' committed (already
-- waiting), '2' processing (for mode 'rerun': it will run once more after).
-- Keeps: an ID is pushed onto queued only when SADD says it was not committed,
-- so it is never twice in the list nor in both queued and processing.
local rerun = ARGV[1] == 'rerun'
local anyFailed = redis.call('EXISTS', K.failed) == 1
local codes, fresh = {}, {}
for i = 2, #ARGV, 2 do
  local id, payload = ARGV[i], ARGV[i + 1]
  if redis.call('SADD', K.committed, id) == 1 then
    fresh[#fresh + 1] = id
    codes[#codes + 1] = '0'
    if payload ~= '' then
      redis.call('HSET', K.payload, id, payload)
    end
    -- Adding a failed ID again starts it afresh: its failure record goes, and
    -- so does the payload kept for inspection when this add brings none.
    if anyFailed and redis.call('ZREM', K.failed, id) == 1 then
      redis.call('HDEL', K.failinfo, id)
      if payload == '' then redis.call('HDEL', K.payload, id) end
    end
  elseif redis.call('ZSCORE', K.processing, id) then
    codes[#codes + 1] = '2'
    if rerun then
      redis.call('SADD', K.rerun, id)
      if payload ~= '' then redis.call('HSET', K.payload, id, payload) end
    end
  else
    codes[#codes + 1] = '1'
  end
end
enqueue(fresh)
return table.concat(codes)
