-- obliterate: delete every key of the queue, unless jobs are processing and
-- the caller did not force it.
-- KEYS: queued scheduled committed processing leases payload options attempts stalls progress rerun failed failinfo errors wake lock workers workerinfo repeats repeatspec prioritized sequence control limiter resume groups gactive glimited superseded deadline events results resultorder
-- ARGV: force ('1' | '0')
-- INCLUDE: present events
-- Returns the number of jobs processing when it refused (nothing deleted), or
-- {deleted keys} when it deleted. With events on, the new event stream then
-- holds one 'obliterated' event, so waiters and listeners learn of it. UNLINK frees big keys in the background, so
-- one call does it whatever their size.
-- Keeps: all or nothing. Every key's type is checked first: a key holding data
-- convoy-queue did not write fails the call and nothing is deleted. The jam
-- guard's lock always has an expiry; a lock string without one is not ours and
-- is left alone, and so is a sequence string that is not a number.
local KINDS_ALL = {
  queued = 'list', scheduled = 'zset', committed = 'set', processing = 'zset', leases = 'zset',
  payload = 'hash', options = 'hash', attempts = 'hash', stalls = 'hash', progress = 'hash',
  rerun = 'set', failed = 'zset', failinfo = 'hash', errors = 'list', wake = 'list', lock = 'string',
  workers = 'zset', workerinfo = 'hash', superseded = 'set', deadline = 'hash',
}
-- the schedules of repeatable jobs and the flow control go too
KINDS_ALL.repeats, KINDS_ALL.repeatspec = 'zset', 'hash'
KINDS_ALL.prioritized, KINDS_ALL.sequence, KINDS_ALL.control, KINDS_ALL.limiter = 'zset', 'string', 'hash', 'zset'
KINDS_ALL.resume, KINDS_ALL.groups, KINDS_ALL.gactive, KINDS_ALL.glimited, KINDS_ALL.superseded = 'list', 'zset', 'hash', 'zset', 'set'
KINDS_ALL.events, KINDS_ALL.results, KINDS_ALL.resultorder = 'stream', 'hash', 'zset'
local names = {}
for name in pairs(KINDS_ALL) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do present(K[name], KINDS_ALL[name]) end
-- each group's keys (its list and rate window), named from the groups the queue knows
local base, extra, seen = string.sub(K.groups, 1, -7), {}, {}
local known = redis.call('ZRANGE', K.groups, 0, -1)
for _, g in ipairs(redis.call('ZRANGE', K.glimited, 0, -1)) do known[#known + 1] = g end
for _, g in ipairs(redis.call('HKEYS', K.gactive)) do known[#known + 1] = g end
for _, g in ipairs(known) do
  if not seen[g] then
    seen[g] = true
    for kind, key in pairs({ list = base .. 'g:' .. g, zset = base .. 'gw:' .. g }) do
      if present(key, kind) then extra[#extra + 1] = key end
    end
  end
end
local running = redis.call('ZCARD', K.processing)
if running > 0 and ARGV[1] ~= '1' then return running end
local keys = extra
for _, name in ipairs(names) do
  local ours = true
  if name == 'lock' then ours = redis.call('PTTL', K.lock) >= 0 end
  if name == 'sequence' then ours = string.match(redis.call('GET', K.sequence) or '0', '^%-?%d+$') ~= nil end
  if ours then keys[#keys + 1] = K[name] end
end
local deleted = redis.call('UNLINK', unpack(keys))
emit('obliterated', '')
return { deleted }
