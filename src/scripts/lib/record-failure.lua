-- record_failure(id, err): count one more failure of an ID in the failed zset,
-- keep the error as its last error, and append it to the bounded error log.
-- KEYS: failed failinfo errors
-- logSize and logTtl come from the including script's ARGV.
local function record_failure(id, err, logSize, logTtl)
  redis.call('ZINCRBY', K.failed, 1, id)
  redis.call('HSET', K.failinfo, id, err)
  redis.call('LPUSH', K.errors, err)
  redis.call('LTRIM', K.errors, 0, logSize - 1)
  redis.call('EXPIRE', K.errors, logTtl)
end
