-- record_failure_check(): reads the type of each key these functions write;
-- call it before a script's first write.
-- log_error(err, logSize, logTtl): add an error to the bounded error log.
-- record_failure(id, err, logSize, logTtl): the ID failed for good: count it in
-- the failed zset, keep the error as its last error, and log it. These keys
-- hold no job state: a script writes them last.
-- KEYS: failed failinfo errors
local function record_failure_check()
  present(K.failed, 'zset')
  present(K.failinfo, 'hash')
  present(K.errors, 'list')
end

local function log_error(err, logSize, logTtl)
  redis.call('LPUSH', K.errors, err)
  redis.call('LTRIM', K.errors, 0, logSize - 1)
  redis.call('EXPIRE', K.errors, logTtl)
end

local function record_failure(id, err, logSize, logTtl)
  redis.call('ZINCRBY', K.failed, 1, id)
  redis.call('HSET', K.failinfo, id, err)
  log_error(err, logSize, logTtl)
end
