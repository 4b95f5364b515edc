-- Hand tasks back to the front of their queue (graceful shutdown that ran out of grace, or
-- prefetched tasks stuck behind long ones). Fenced by token: only tasks this worker still holds.
-- KEYS: 1-3 queues, 4 leases, 5 wakeup
-- ARGV: 3 worker id, 4 reason (the event's detail), 5.. pairs of id, token
-- Returns: number released
local now = now_ms()
local n = 0
for i = 5, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local tk = task_key(id)
  local f = redis.call('HMGET', tk, 'status', 'token', 'priority')
  if (f[1] == 'running' or f[1] == 'reserved') and f[2] == token then
    redis.call('HSET', tk, 'status', 'queued')
    redis.call('ZREM', KEYS[4], id)
    redis.call('LPUSH', queue_key(f[3]), id)
    add_event(id, now, 'released', ARGV[3], token, ARGV[4])
    n = n + 1
  end
end
if n > 0 then redis.call('LPUSH', KEYS[5], 1) end
return n
