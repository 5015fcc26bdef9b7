-- present(key, kind): whether an optional key exists, after checking it holds
-- the Redis type convoy-queue keeps there. Reading the type before the first
-- write means foreign data fails the script before it changes anything.
local function present(key, kind)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then return false end
  if t ~= kind then
    return error({ err = 'WRONGTYPE ' .. key .. ' holds a ' .. t .. ', convoy-queue keeps a ' .. kind .. ' there' })
  end
  return true
end
