-- create: insert a session unless the key exists.
-- KEYS[1]: the session key.
-- ARGV[1]: created (Unix ms), ARGV[2]: expires (Unix ms), ARGV[3]: the
-- expiry policy ('' for none), ARGV[4]: the user ('' for none, else '=' and
-- the user), ARGV[5..]: data field, value, field, value, ...
-- Returns 1 if inserted, or if the key holds exactly what this call
-- writes (every field: this call sent again after its answer was lost,
-- the session not written to since); 0 if the key holds anything else
-- (nothing written); 2 if it holds a stub ('created' is '0': no session,
-- e.g. the tombstone an end of the user's sessions leaves under an id,
-- which a create resent after that end finds; nothing written).
local created = redis.call('HGET', KEYS[1], 'created')
if created == '0' then
  return 2
end
if created then
  local want = {created = ARGV[1], expires = ARGV[2]}
  local count = 2
  if ARGV[3] ~= '' then
    want['policy'] = ARGV[3]
    count = count + 1
  end
  if ARGV[4] ~= '' then
    want['user'] = string.sub(ARGV[4], 2)
    count = count + 1
  end
  for i = 5, #ARGV - 1, 2 do
    if want[ARGV[i]] == nil then
      count = count + 1
    end
    want[ARGV[i]] = ARGV[i + 1]
  end
  local found = redis.call('HGETALL', KEYS[1])
  if #found ~= 2 * count then
    return 0
  end
  for i = 1, #found, 2 do
    if want[found[i]] ~= found[i + 1] then
      return 0
    end
  end
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'created', ARGV[1], 'expires', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'policy', ARGV[3])
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'user', string.sub(ARGV[4], 2))
end
-- At most 200 values (100 field/value pairs) per HSET: Lua's unpack can
-- only spread so many values at once.
local i = 5
while i <= #ARGV do
  local last = math.min(i + 199, #ARGV)
  redis.call('HSET', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
