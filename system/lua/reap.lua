-- Leader duty: re-queue tasks whose lease expired (worker killed, frozen or cut off), and
-- release retries that are due. Fenced by the leader epoch: a deposed leader does nothing.
-- KEYS: 1-3 queues, 4 leases, 5 delayed, 6 dead, 7 stats, 8 leader epoch, 9 wakeup
-- ARGV: 3 epoch, 4 limit per run, 5 max lease expiries before a task is dead
-- Returns: {expired requeued, expired dead, retries released} or -1 when not the leader
if redis.call('GET', KEYS[8]) ~= ARGV[3] then return -1 end
local now = now_ms()
local limit, max_exp = tonumber(ARGV[4]), tonumber(ARGV[5])
local requeued, died, released = 0, 0, 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[4], id)
  local tk = task_key(id)
  local f = redis.call('HMGET', tk, 'status', 'worker', 'token', 'priority', 'expiries')
  if f[1] == 'running' or f[1] == 'reserved' then
    local exp = redis.call('HINCRBY', tk, 'expiries', 1)
    add_event(id, now, 'lease_expired', f[2], f[3], '')
    if exp > max_exp then
      redis.call('HSET', tk, 'status', 'dead', 'error', 'lease expired ' .. exp .. ' times', 'finished_at', now)
      add_event(id, now, 'dead', '', '', 'lease expired ' .. exp .. ' times')
      bury(KEYS[6], id, now)
      died = died + 1
    else
      redis.call('HSET', tk, 'status', 'queued')
      redis.call('LPUSH', queue_key(f[4]), id)
      requeued = requeued + 1
    end
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[5], id)
  local tk = task_key(id)
  local f = redis.call('HMGET', tk, 'status', 'priority')
  if f[1] == 'retry_scheduled' then
    redis.call('HSET', tk, 'status', 'queued')
    redis.call('RPUSH', queue_key(f[2]), id)
    add_event(id, now, 'requeued', '', '', 'retry due')
    released = released + 1
  end
end
if requeued > 0 then redis.call('HINCRBY', KEYS[7], 'lease_expired', requeued) end
if died > 0 then redis.call('HINCRBY', KEYS[7], 'dead', died) end
if requeued + released > 0 then
  for _ = 1, math.min(requeued + released, 16) do redis.call('LPUSH', KEYS[9], 1) end
  redis.call('LTRIM', KEYS[9], 0, 255)
end
return {requeued, died, released}
