-- end_bound: delete a session if it is bound to a user (delete_user).
-- KEYS[1]: the session key. ARGV[1]: the user.
-- Returns 1 if deleted, 0 if the session is gone or bound to someone else.
if redis.call('HGET', KEYS[1], 'user') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
