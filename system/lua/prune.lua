-- Leader duty: drop workers whose registration expired from workers:active (counted in stats
-- worker_lost: they stopped heartbeating without deregistering), and index entries of task
-- records that expired. Fenced by the leader epoch.
-- KEYS: 1 workers:active, 2 leader epoch, 3 index, 4 stats
-- ARGV: 3 epoch, 4 worker key prefix, 5 retention ms
-- Returns: ids of workers pruned, or -1 when not the leader
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return -1 end
local pruned = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[4] .. id) == 0 then
    redis.call('SREM', KEYS[1], id)
    pruned[#pruned + 1] = id
  end
end
if #pruned > 0 then redis.call('HINCRBY', KEYS[4], 'worker_lost', #pruned) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms() - tonumber(ARGV[5]))
return pruned
