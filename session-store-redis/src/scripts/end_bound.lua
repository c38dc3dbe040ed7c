-- end_bound: end a session of a user (delete_user, end_user_session), so
-- that its id never holds a live session again.
-- KEYS[1]: the session key. ARGV[1]: the user. ARGV[2]: how long the
-- tombstone it leaves lasts (ms; the store's grace period).
-- A live session bound to the user is deleted and replaced by a tombstone,
-- a stub ('created' is '0': no session) that expires after ARGV[2]. So is a
-- key that does not exist: the id may be in the index of a create or cycle
-- still on its way (the index is written first), or of a create resent
-- after a lost answer; both write only into a key that does not exist, so
-- the tombstone makes them answer that the id is taken. Anything else (a
-- session of someone else, an unbound one, a stub) is left as it is.
-- Returns 1 if it ended a live session bound to the user, else 0.
local fields = redis.call('HMGET', KEYS[1], 'user', 'created')
local created = fields[2]
if created and created ~= '0' then
  if fields[1] ~= ARGV[1] then
    return 0
  end
  redis.call('DEL', KEYS[1])
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'created', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if created then
  return 1
end
return 0
