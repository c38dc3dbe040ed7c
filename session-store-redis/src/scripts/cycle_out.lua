-- cycle_out: the last step of a cycle on a cluster (the new session is
-- already written): end the old session if it is still live, in one step,
-- and say whether it was.
-- KEYS[1]: the old session key. ARGV[1]: the new id. ARGV[2]: how long the
-- marker it leaves lasts (ms; the store's grace period).
-- The old session is replaced by a stub ('created' is '0': no session)
-- whose 'moved' field names the new id, so that this call sent again after
-- a lost answer recognises its own move.
-- Returns 1 if the old session was live (it is now ended, or was ended by
-- this same move), 0 if it was gone (a logout came first: nothing written).
local fields = redis.call('HMGET', KEYS[1], 'created', 'moved')
if fields[1] and fields[1] ~= '0' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'created', '0', 'moved', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if fields[2] == ARGV[1] then
  return 1
end
return 0
