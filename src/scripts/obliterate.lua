-- obliterate: delete every key of the queue, unless jobs are processing and
-- the caller did not force it.
-- KEYS: queued scheduled committed processing leases payload options attempts stalls progress rerun failed failinfo errors wake lock workers workerinfo repeats repeatspec events results resultorder
-- ARGV: force ('1' | '0')
-- INCLUDE: present events
-- Returns the number of jobs processing when it refused (nothing deleted), or
-- {deleted keys} when it deleted. With events on, the new event stream then
-- holds one 'obliterated' event, so waiters and listeners learn of it. UNLINK frees big keys in the background, so
-- one call does it whatever their size.
-- Keeps: all or nothing. Every key's type is checked first: a key holding data
-- convoy-queue did not write fails the call and nothing is deleted. The jam
-- guard's lock always has an expiry; a lock string without one is not ours and
-- is left alone.
local KINDS_ALL = {
  queued = 'list', scheduled = 'zset', committed = 'set', processing = 'zset', leases = 'zset',
  payload = 'hash', options = 'hash', attempts = 'hash', stalls = 'hash', progress = 'hash',
  rerun = 'set', failed = 'zset', failinfo = 'hash', errors = 'list', wake = 'list', lock = 'string',
  workers = 'zset', workerinfo = 'hash',
}
-- the schedules of repeatable jobs go too
KINDS_ALL.repeats, KINDS_ALL.repeatspec = 'zset', 'hash'
KINDS_ALL.events, KINDS_ALL.results, KINDS_ALL.resultorder = 'stream', 'hash', 'zset'
local names = {}
for name in pairs(KINDS_ALL) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do present(K[name], KINDS_ALL[name]) end
local running = redis.call('ZCARD', K.processing)
if running > 0 and ARGV[1] ~= '1' then return running end
local keys = {}
for _, name in ipairs(names) do
  if name ~= 'lock' or redis.call('PTTL', K.lock) >= 0 then keys[#keys + 1] = K[name] end
end
local deleted = redis.call('UNLINK', unpack(keys))
emit('obliterated', '')
return { deleted }
