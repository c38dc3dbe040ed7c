-- save: apply a change set to an existing session.
-- KEYS[1]: the session key.
-- ARGV[1]: expires (Unix ms), ARGV[2]: n, the number of field/value pairs
-- set; ARGV[3]: the expiry policy change: '' keeps the stored policy, '-'
-- removes it, anything else is the new policy; ARGV[4]: the user change:
-- '' keeps the binding, '-' unbinds, '=' and a user binds to that user;
-- ARGV[5 .. 4+2n]: field, value, ...; the rest: fields removed.
-- Returns 0 if the key is gone (nothing written); else 1, or, when ARGV[4]
-- changes the binding, {1, the user bound before (nil if none)}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
-- Lua's unpack can only spread so many values at once: at most 200 fields
-- per HDEL, and 200 values (100 field/value pairs) per HSET.
local set_end = 4 + 2 * tonumber(ARGV[2])
local i = set_end + 1
while i <= #ARGV do
  local last = math.min(i + 199, #ARGV)
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
i = 5
while i <= set_end do
  local last = math.min(i + 199, set_end)
  redis.call('HSET', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
if ARGV[3] == '-' then
  redis.call('HDEL', KEYS[1], 'policy')
elseif ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'policy', ARGV[3])
end
redis.call('HSET', KEYS[1], 'expires', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if ARGV[4] == '' then
  return 1
end
local before = redis.call('HGET', KEYS[1], 'user')
if ARGV[4] == '-' then
  redis.call('HDEL', KEYS[1], 'user')
else
  redis.call('HSET', KEYS[1], 'user', string.sub(ARGV[4], 2))
end
return {1, before}
