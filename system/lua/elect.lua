-- Leader election with a lease: take the leader key if free, or renew it if ours.
-- A new leader gets a new epoch (fencing token) that the duty scripts check.
-- KEYS: 1 leader, 2 leader epoch
-- ARGV: 3 leader instance (worker id + per-process nonce), 4 ttl ms
-- Returns: the epoch while this worker leads, or false
if redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[4]) then
  return redis.call('INCR', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return tonumber(redis.call('GET', KEYS[2]))
end
return false
