-- Graceful exit: leave the registry and give up leadership if held.
-- KEYS: 1 workers:active, 2 worker hash, 3 leader
-- ARGV: 3 worker id, 4 leader instance of this process (worker id + nonce)
redis.call('SREM', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return 1
