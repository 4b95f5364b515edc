-- Lost workers: re-queue at once the tasks of workers whose every Redis connection closed
-- (process killed, container gone), instead of waiting for their leases to expire. The caller
-- saw each instance's named connections earlier on this same server and sees none now
-- (CLIENT LIST, which scripts cannot call). A lost leader is replaced here by the caller, so
-- leadership moves at once instead of after the leader TTL. Fenced: only the leader (this
-- instance, holding this epoch) re-queues. Connections that stay open (SIGSTOP, partition)
-- never get here: leases cover those.
-- KEYS: 1-3 queues, 4 leases, 5 dead, 6 stats, 7 leader, 8 leader epoch, 9 wakeup,
--       10 workers:active, 11.. the worker hash of each lost instance, in ARGV order
-- ARGV: 3 this instance, 4 epoch it holds ('' if none), 5 leader ttl ms,
--       6 snapshot time (ms, Redis clock: tasks claimed after the snapshot are left alone),
--         compared with claimed_at; reserved (buffered) and running tasks are both held
--       7 max lease expiries before a task is dead, 8.. lost pairs: worker id, instance
-- Returns: {epoch, requeued, dead}, or -1 when not the leader
local me, epoch = ARGV[3], ARGV[4]
local holder = redis.call('GET', KEYS[7])
local lost_instances = {}
for i = 8, #ARGV, 2 do lost_instances[ARGV[i + 1]] = true end
if holder and holder ~= me and lost_instances[holder] then
  redis.call('SET', KEYS[7], me, 'PX', ARGV[5])
  epoch = tostring(redis.call('INCR', KEYS[8]))
elseif holder ~= me or redis.call('GET', KEYS[8]) ~= epoch then
  return -1
end
-- reaped only while the registration is that instance's (or gone): a restarted worker with
-- the same id has registered a new instance and keeps its tasks
-- stats worker_lost counts the registrations removed here: a worker that deregistered itself
-- on a graceful exit has none left to remove, so the counter tells the two exits apart
local lost_ids, any, removed = {}, false, 0
for i = 8, #ARGV, 2 do
  local wk = KEYS[11 + (i - 8) / 2]
  local registered = redis.call('HGET', wk, 'instance')
  if not registered or registered == ARGV[i + 1] then
    lost_ids[ARGV[i]], any = true, true
    if registered then
      redis.call('DEL', wk)
      redis.call('SREM', KEYS[10], ARGV[i])
      removed = removed + 1
    end
  end
end
if removed > 0 then redis.call('HINCRBY', KEYS[6], 'worker_lost', removed) end
if not any then return {tonumber(epoch), 0, 0} end
local now, snapshot, max_exp = now_ms(), tonumber(ARGV[6]), tonumber(ARGV[7])
local requeued, died = 0, 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local f = redis.call('HMGET', task_key(id), 'status', 'worker', 'token', 'priority', 'claimed_at')
  if (f[1] == 'running' or f[1] == 'reserved') and lost_ids[f[2]] and (tonumber(f[5]) or 0) <= snapshot then
    redis.call('ZREM', KEYS[4], id)
    local q, d = lease_ended(id, now, f[2], f[3], f[4], max_exp, 'worker lost: its connections closed', KEYS[5])
    requeued, died = requeued + q, died + d
  end
end
if requeued > 0 then
  redis.call('HINCRBY', KEYS[6], 'lease_expired', requeued)
  for _ = 1, math.min(requeued, 16) do redis.call('LPUSH', KEYS[9], 1) end
  redis.call('LTRIM', KEYS[9], 0, 255)
end
if died > 0 then redis.call('HINCRBY', KEYS[6], 'dead', died) end
return {tonumber(epoch), requeued, died}
