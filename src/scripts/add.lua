-- add: publish job IDs (lib/add.lua).
-- KEYS: queued committed processing payload rerun scheduled options attempts stalls failed failinfo wake prioritized sequence groups gactive glimited control events
-- ARGV: mode ('ignore' | 'rerun'), n, the n ids, then quads for the ids that
--       carry anything (most carry nothing: fewer arguments): index, payload
--       JSON or '', options JSON or '', delay in ms or ''
-- INCLUDE: present events enqueue schedule add
-- Returns one code per ID, as a string (see add_jobs).
local n = tonumber(ARGV[2])
local ids, extra = {}, {}
for i = 1, n do ids[i] = ARGV[2 + i] end
for j = 3 + n, #ARGV, 4 do
  extra[tonumber(ARGV[j])] = { payload = ARGV[j + 1], options = ARGV[j + 2], delay = tonumber(ARGV[j + 3]) }
end
return table.concat(add_jobs(ids, extra, ARGV[1]))
