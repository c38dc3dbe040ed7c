-- unlock: give a session's lease back, if it is still ours.
-- KEYS[1]: the lease key. ARGV[1]: the token the lease was taken with.
-- Returns 1 if released, 0 if the lease ran out (and may be another's now).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
