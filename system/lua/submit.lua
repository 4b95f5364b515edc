-- Store and enqueue N new tasks atomically (a batch is all or nothing).
-- KEYS: 1-3 queues (high, normal, low), 4 index, 5 stats, 6 wakeup
-- ARGV: 3 idempotency key prefix, 4 idempotency ttl s, 5 count,
--       then per task 10 values: id, type, data(json), priority, max_retries, timeout_s, idempotency_key(''),
--       fingerprint (hash of the request; stored with the task, compared when its key comes again),
--       traceparent(''), tracestate('') (W3C trace context of the submit, when tracing is on),
--       and last (after the tasks, so task offsets stay put) the back-pressure limits:
--       max queued tasks (0: none), memory budget as a fraction of maxmemory (0: off)
-- Returns: flat list id, created(1|0) per task; an existing task is returned for a repeated key
--   with the same fingerprint. A repeated key with another fingerprint stores nothing at all and
--   returns {'conflict', index (0-based), existing id}; back-pressure refuses the batch (nothing
--   stored) with {'full', 'queued'|'memory', current, limit}.
local W = 10
local now = now_ms()
local idem_prefix, idem_ttl, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local max_queued, mem_budget = tonumber(ARGV[#ARGV - 1]), tonumber(ARGV[#ARGV])
if max_queued > 0 then
  local queued = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3])
  if queued + n > max_queued then return {'full', 'queued', queued, max_queued} end
end
if mem_budget > 0 then
  local info = redis.call('INFO', 'memory')
  local maxmemory = tonumber(string.match(info, 'maxmemory:(%d+)'))
  local used = tonumber(string.match(info, 'used_memory:(%d+)'))
  if maxmemory and maxmemory > 0 and used >= maxmemory * mem_budget then
    return {'full', 'memory', used, math.floor(maxmemory * mem_budget)}
  end
end
for i = 0, n - 1 do
  local b = 6 + i * W
  local idem = ARGV[b + 6]
  if idem ~= '' then
    local prev = redis.call('GET', idem_prefix .. idem)
    if prev then
      local fp = redis.call('HGET', task_key(prev), 'fingerprint')
      if fp and fp ~= ARGV[b + 7] then
        return {'conflict', i, prev}
      end
    end
  end
end
local out = {}
local created = 0
for i = 0, n - 1 do
  local b = 6 + i * W
  local id, kind, data, prio, maxr, timeout, idem, fp =
    ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
  local traceparent, tracestate = ARGV[b + 8], ARGV[b + 9]
  local existing = false
  if redis.call('EXISTS', task_key(id)) == 1 then
    -- the same call re-sent after a lost reply: never store or enqueue an id twice
    out[#out + 1] = id
    out[#out + 1] = 0
    existing = true
  elseif idem ~= '' then
    local prev = redis.call('GET', idem_prefix .. idem)
    if prev and redis.call('EXISTS', task_key(prev)) == 1 then
      out[#out + 1] = prev
      out[#out + 1] = 0
      existing = true
    else
      redis.call('SET', idem_prefix .. idem, id, 'EX', idem_ttl)
    end
  end
  if not existing then
    redis.call('HSET', task_key(id), 'id', id, 'type', kind, 'data', data, 'priority', prio,
      'status', 'queued', 'attempts', 0, 'failures', 0, 'expiries', 0, 'token', 0,
      'max_retries', maxr, 'timeout', timeout, 'submitted_at', now, 'idempotency_key', idem,
      'fingerprint', fp)
    if traceparent ~= '' then
      redis.call('HSET', task_key(id), 'traceparent', traceparent, 'tracestate', tracestate)
    end
    add_event(id, now, 'submitted', '', '', prio)
    redis.call('RPUSH', queue_key(prio), id)
    redis.call('ZADD', KEYS[4], now, id)
    created = created + 1
    out[#out + 1] = id
    out[#out + 1] = 1
  end
end
if created > 0 then
  redis.call('HINCRBY', KEYS[5], 'submitted', created)
  for _ = 1, math.min(created, 16) do redis.call('LPUSH', KEYS[6], 1) end
  redis.call('LTRIM', KEYS[6], 0, 255)
end
return out
