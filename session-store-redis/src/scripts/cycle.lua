-- cycle: move a live session to a new key (one node only: the two keys
-- are in different slots of a cluster).
-- KEYS[1]: the old session key, KEYS[2]: the new one.
-- ARGV: as for create: created (Unix ms), expires (Unix ms), the expiry
-- policy ('' for none), the user ('' for none, else '=' and the user), then
-- data field, value, field, value, ...
-- Returns 1 if moved, 0 if the old session is gone (nothing written), 2 if
-- the new key exists (nothing written). A stub ('created' is '0': what a
-- save that lost to a logout leaves) is no session: it is gone. A stub
-- under the new id is the tombstone an end of the user's sessions left
-- there (it found the new id in the index, written before this script
-- runs): the move lost to that end, 0 too.
local created = redis.call('HGET', KEYS[1], 'created')
if not created or created == '0' then
  -- Sent again after its answer was lost? Then the new key holds exactly
  -- what this call writes, and the move is done.
  local new = redis.call('HMGET', KEYS[2], 'created', 'expires')
  if new[1] == ARGV[1] and new[2] == ARGV[2] then
    return 1
  end
  return 0
end
local taken = redis.call('HGET', KEYS[2], 'created')
if taken == '0' then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 2
end
redis.call('HSET', KEYS[2], 'created', ARGV[1], 'expires', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], 'policy', ARGV[3])
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'user', string.sub(ARGV[4], 2))
end
local i = 5
while i <= #ARGV do
  local last = math.min(i + 199, #ARGV)
  redis.call('HSET', KEYS[2], unpack(ARGV, i, last))
  i = last + 1
end
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
