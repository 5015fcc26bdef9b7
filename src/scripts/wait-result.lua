-- wait-result: where an ID stands for waitForResult, and the event stream's
-- position, read in one step (read only): a run that ends after this read is
-- told by an event after the position, so a waiter misses nothing.
-- KEYS: committed failed failinfo results events
-- ARGV: id
-- Returns {state, record or false, last event ID ('0-0' when none)}: state
-- 'waiting' (queued, scheduled or processing: wait for the next run's end),
-- 'done' (record: 'r' .. result JSON or 'e' .. error record, the kept end of
-- its last run, or its failure record) or 'none'.
local id = ARGV[1]
local last = redis.call('XREVRANGE', K.events, '+', '-', 'COUNT', 1)
local at = last[1] and last[1][1] or '0-0'
if redis.call('SISMEMBER', K.committed, id) == 1 then return { 'waiting', false, at } end
local kept = redis.call('HGET', K.results, id)
if kept then return { 'done', kept, at } end
local err = redis.call('HGET', K.failinfo, id)
if err and redis.call('ZSCORE', K.failed, id) then return { 'done', 'e' .. err, at } end
return { 'none', false, at }
