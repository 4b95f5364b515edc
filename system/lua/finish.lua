-- Record that S reserved tasks started, and the outcome of N attempts. Each is applied only if
-- the caller still holds the task's lease (status reserved or running and same fencing token);
-- otherwise an outcome is a stale ack, kept in the history and not applied (a late start is
-- dropped). Starts travel with acks (no round trip per task): a task still reserved when its
-- outcome arrives is started here first, at the time the worker reports.
-- KEYS: 1-3 queues, 4 leases, 5 delayed, 6 dead, 7 stats, 8 latency histogram
-- ARGV: 3 result ttl s, 4 bucket count B, 5..4+B bucket upper bounds (ms),
--       5+B worker id, 6+B start count S, then per start 3 values: id, token, ms since it started;
--       then per task 7 values: id, token, worker, outcome ('ok'|'error'), result-or-error,
--       retry delay ms, ms since it started
-- Returns: per task one of 'ok', 'retry', 'dead', 'stale', or 'duplicate' when this very
--          outcome was already applied (the worker re-sent a batch whose reply was lost);
--          then top_queued().
local now = now_ms()
local ttl = tonumber(ARGV[3])
local nb = tonumber(ARGV[4])
local out = {}
local ended = {}  -- leases to drop: one ZREM for the whole batch, not one per task
local c = {completed = 0, failed = 0, retried = 0, dead = 0, stale_acks = 0}
local hist = {sum_ms = 0}  -- latency histogram increments, written once per batch
local bounds = {}  -- bucket upper bounds as numbers, converted once per batch, not per task
for b = 5, 4 + nb do bounds[#bounds + 1] = tonumber(ARGV[b]) end
local function start(id, tk, token, worker, ago)
  local at = now - tonumber(ago)
  redis.call('HSET', tk, 'status', 'running', 'started_at', at)
  add_event(id, at, 'started', worker, token, '')
end
local first = 7 + nb + 3 * tonumber(ARGV[6 + nb])
for i = 7 + nb, first - 1, 3 do
  local id, token = ARGV[i], ARGV[i + 1]
  local tk = task_key(id)
  local f = redis.call('HMGET', tk, 'status', 'token')
  if f[1] == 'reserved' and f[2] == token then start(id, tk, token, ARGV[5 + nb], ARGV[i + 2]) end
end
for i = first, #ARGV, 7 do
  local id, token, worker, outcome, payload, delay =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  local tk = task_key(id)
  local f = redis.call('HMGET', tk, 'status', 'token', 'failures', 'max_retries', 'submitted_at', 'acked')
  local held = (f[1] == 'running' or f[1] == 'reserved') and f[2] == token
  local began = nil  -- a reserved task's start travels with its outcome: one HSET for both below
  if held and f[1] == 'reserved' then
    began = now - tonumber(ARGV[i + 6])
    add_event(id, began, 'started', worker, token, '')
    if outcome ~= 'ok' then redis.call('HSET', tk, 'started_at', began) end
  end
  if f[6] == token then
    out[#out + 1] = 'duplicate'
  elseif not held then
    -- a record whose retention ran out gets no history: that would be an event list without a TTL
    if f[1] then add_event(id, now, 'stale_ack', worker, token, outcome) end
    c.stale_acks = c.stale_acks + 1
    out[#out + 1] = 'stale'
  elseif outcome == 'ok' then
    local fields = {'status', 'succeeded', 'acked', token, 'finished_at', now}
    if #payload > 256 and payload == redis.call('HGET', tk, 'data') then
      -- a result equal to the task's data (echo) is stored once: 'result_ref' points at 'data'
      fields[#fields + 1], fields[#fields + 2] = 'result_ref', 'data'
    else
      fields[#fields + 1], fields[#fields + 2] = 'result', payload
    end
    if began then fields[#fields + 1], fields[#fields + 2] = 'started_at', began end
    redis.call('HSET', tk, unpack(fields))
    ended[#ended + 1] = id
    add_event(id, now, 'succeeded', worker, token, '')
    redis.call('EXPIRE', tk, ttl)
    redis.call('EXPIRE', events_key(id), ttl)
    local latency = now - tonumber(f[5])
    local bucket = 'inf'
    for b = 1, nb do
      if latency <= bounds[b] then bucket = ARGV[4 + b]; break end
    end
    hist[bucket] = (hist[bucket] or 0) + 1
    hist.sum_ms = hist.sum_ms + latency
    c.completed = c.completed + 1
    out[#out + 1] = 'ok'
  else
    local failures = tonumber(f[3]) + 1
    redis.call('HSET', tk, 'acked', token)
    ended[#ended + 1] = id
    c.failed = c.failed + 1
    add_event(id, now, 'failed', worker, token, payload)
    if failures <= tonumber(f[4]) then
      redis.call('HSET', tk, 'status', 'retry_scheduled', 'error', payload, 'failures', failures)
      redis.call('ZADD', KEYS[5], now + delay, id)
      add_event(id, now, 'retry_scheduled', worker, token, tostring(delay))
      c.retried = c.retried + 1
      out[#out + 1] = 'retry'
    else
      redis.call('HSET', tk, 'status', 'dead', 'error', payload, 'failures', failures, 'finished_at', now)
      add_event(id, now, 'dead', worker, token, 'failed ' .. failures .. ' times')
      bury(KEYS[6], id, now)
      c.dead = c.dead + 1
      out[#out + 1] = 'dead'
    end
  end
end
call_batched('ZREM', KEYS[4], ended)
for name, n in pairs(c) do
  if n > 0 then redis.call('HINCRBY', KEYS[7], name, n) end
end
for name, n in pairs(hist) do
  if n > 0 then redis.call('HINCRBY', KEYS[8], name, n) end
end
out[#out + 1] = top_queued()
return out
