-- end_bound: delete a session if it is bound to a user (delete_user).
-- KEYS[1]: the session key. ARGV[1]: the user.
-- Returns 1 if a session was deleted, 0 if the session is gone or bound to
-- someone else. A stub ('created' is '0': what a save that lost to a
-- logout leaves) bound to the user is deleted too, but counts as nothing.
local fields = redis.call('HMGET', KEYS[1], 'user', 'created')
if fields[1] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if fields[2] and fields[2] ~= '0' then
    return 1
  end
end
return 0
