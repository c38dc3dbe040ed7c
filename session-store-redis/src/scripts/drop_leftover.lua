-- drop_leftover: delete what a save or touch that found no session left
-- behind (a stub, 'created' is '0', or a hash without 'created'), unless it
-- is the marker of a cycle's move ('moved'), which must stay until it
-- expires: a resent cycle step looks for it.
-- KEYS[1]: the session key.
-- Returns 1 if deleted, else 0.
local fields = redis.call('HMGET', KEYS[1], 'created', 'moved')
if fields[2] or (fields[1] and fields[1] ~= '0') then
  return 0
end
return redis.call('DEL', KEYS[1])
