-- index_add: put a session into a user's index, before the session is
-- bound to the user (so that a delete_user that reads the index meanwhile
-- sees it).
-- KEYS[1]: the user's index (a sorted set). ARGV[1]: the session id.
-- The score is the server's time in Unix ms, and always above the
-- member's previous score: index_prune can tell that an entry was renewed
-- since it looked at it.
-- Returns the number of members of the index.
local t = redis.call('TIME')
local score = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
if before and tonumber(before) >= score then
  score = tonumber(before) + 1
end
redis.call('ZADD', KEYS[1], string.format('%.0f', score), ARGV[1])
return redis.call('ZCARD', KEYS[1])
