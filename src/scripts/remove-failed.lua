-- remove-failed: forget the failure records of IDs.
-- KEYS: committed payload failed failinfo
-- ARGV: ids
-- Returns how many IDs had a failure record.
-- Keeps: the payload of a committed ID (queued or processing) is left alone;
-- that of an ID no longer committed goes with its failure record.
local removed = 0
for _, id in ipairs(ARGV) do
  if redis.call('ZREM', K.failed, id) == 1 then
    removed = removed + 1
    redis.call('HDEL', K.failinfo, id)
    if redis.call('SISMEMBER', K.committed, id) == 0 then
      redis.call('HDEL', K.payload, id)
    end
  end
end
return removed
