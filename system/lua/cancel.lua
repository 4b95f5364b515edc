-- Cancel a task that has not started (queued or waiting for a retry).
-- KEYS: 1-3 queues, 4 delayed, 5 stats
-- ARGV: 3 id, 4 result ttl s
-- Returns: {'ok', 'cancelled'} or {'conflict', current status} or {'missing', ''}
local id = ARGV[3]
local tk = task_key(id)
local f = redis.call('HMGET', tk, 'status', 'priority')
if not f[1] then return {'missing', ''} end
if f[1] == 'queued' then
  redis.call('LREM', queue_key(f[2]), 1, id)
elseif f[1] == 'retry_scheduled' then
  redis.call('ZREM', KEYS[4], id)
else
  return {'conflict', f[1]}
end
local now = now_ms()
redis.call('HSET', tk, 'status', 'cancelled', 'finished_at', now)
add_event(id, now, 'cancelled', '', '', '')
redis.call('EXPIRE', tk, tonumber(ARGV[4]))
redis.call('EXPIRE', events_key(id), tonumber(ARGV[4]))
redis.call('HINCRBY', KEYS[5], 'cancelled', 1)
return {'ok', 'cancelled'}
