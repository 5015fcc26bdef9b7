-- add: publish job IDs (lib/add.lua).
-- KEYS: queued committed processing payload rerun scheduled options attempts stalls failed failinfo wake superseded deadline prioritized sequence groups gactive glimited control events
-- ARGV: the queue's policies: processing ('ignore' | 'rerun' | 'supersede'),
--       waiting ('ignore' | 'replace' | 'debounce'), maxWait in ms or '';
--       n, the n ids; m, then m quads for the ids that carry anything (most
--       carry nothing: fewer arguments): index, payload JSON or '', options
--       JSON or '', delay in ms or '' (none given); then quads for the ids
--       that give their own policies: index, waiting or '', processing or '',
--       maxWait or ''
-- INCLUDE: present events enqueue schedule add
-- Returns one code per ID, as a string (see add_jobs).
local n = tonumber(ARGV[4])
local ids, extra = {}, {}
for i = 1, n do ids[i] = ARGV[4 + i] end
local from = 6 + n
local policies = from + 4 * tonumber(ARGV[5 + n])
for j = from, policies - 1, 4 do
  extra[tonumber(ARGV[j])] = { payload = ARGV[j + 1], options = ARGV[j + 2], delay = tonumber(ARGV[j + 3]) }
end
local function given(s) return s ~= '' and s or nil end
for j = policies, #ARGV, 4 do
  local i = tonumber(ARGV[j])
  local e = extra[i] or { payload = '', options = '' }
  e.waiting, e.processing, e.maxWait = given(ARGV[j + 1]), given(ARGV[j + 2]), tonumber(ARGV[j + 3])
  extra[i] = e
end
return table.concat(add_jobs(ids, extra, ARGV[1], { policy = ARGV[2], maxWait = tonumber(ARGV[3]) }))
