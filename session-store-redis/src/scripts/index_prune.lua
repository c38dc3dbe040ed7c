-- index_prune: remove from a user's index entries whose sessions were seen
-- gone or bound to someone else.
-- KEYS[1]: the user's index. ARGV[1]: the grace period (ms); ARGV[2..]:
-- member, the score it had when its session was read ('' for any), ...
-- A member is removed only if its score is still the one seen and it was
-- added more than the grace period ago: a bind that added it again since
-- (its session may not carry the binding yet) keeps it.
-- Returns the number of members removed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = now - tonumber(ARGV[1])
local removed = 0
for i = 2, #ARGV - 1, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= cutoff
      and (ARGV[i + 1] == '' or tonumber(score) == tonumber(ARGV[i + 1])) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
