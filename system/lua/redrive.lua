-- Move a dead task back to its queue with a fresh retry budget.
-- KEYS: 1-3 queues, 4 dead, 5 stats, 6 wakeup
-- ARGV: 3 id
-- Returns: {'ok', 'queued'} or {'conflict', current status} or {'missing', ''}
local id = ARGV[3]
local tk = task_key(id)
local f = redis.call('HMGET', tk, 'status', 'priority')
if not f[1] then return {'missing', ''} end
if f[1] ~= 'dead' then return {'conflict', f[1]} end
local now = now_ms()
redis.call('ZREM', KEYS[4], id)
redis.call('HSET', tk, 'status', 'queued', 'failures', 0, 'expiries', 0)
redis.call('HDEL', tk, 'finished_at')
redis.call('PERSIST', tk)  -- alive again: no longer expires as a dead task does
redis.call('PERSIST', events_key(id))
redis.call('RPUSH', queue_key(f[2]), id)
add_event(id, now, 'redriven', '', '', '')
redis.call('HINCRBY', KEYS[5], 'redriven', 1)
redis.call('LPUSH', KEYS[6], 1)
return {'ok', 'queued'}
