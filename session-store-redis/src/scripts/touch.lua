-- touch: move the expiry of an existing session.
-- KEYS[1]: the session key. ARGV[1]: expires (Unix ms).
-- Returns 1 if applied, 0 if the key is gone (nothing written).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'expires', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
