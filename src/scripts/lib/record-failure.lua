-- record_failure_check(): reads the type of each key record_failure writes;
-- call it before a script's first write.
-- record_failure(id, err, logSize, logTtl): count one more failure of an ID in
-- the failed zset, keep the error as its last error, and add it to the bounded
-- error log. These keys hold no job state: a script writes them last.
-- KEYS: failed failinfo errors
local function record_failure_check()
  present(K.failed, 'zset')
  present(K.failinfo, 'hash')
  present(K.errors, 'list')
end

local function record_failure(id, err, logSize, logTtl)
  redis.call('ZINCRBY', K.failed, 1, id)
  redis.call('HSET', K.failinfo, id, err)
  redis.call('LPUSH', K.errors, err)
  redis.call('LTRIM', K.errors, 0, logSize - 1)
  redis.call('EXPIRE', K.errors, logTtl)
end
