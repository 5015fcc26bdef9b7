-- unlock: release a lock only if the caller still holds it.
-- KEYS: lock
-- ARGV: lock token
-- Returns 1 when released, 0 when the lock had expired or passed to another holder.
if redis.call('GET', K.lock) == ARGV[1] then
  return redis.call('DEL', K.lock)
end
return 0
