-- Claim up to N queued tasks, strictly high > normal > low, FIFO within a level.
-- Each claim bumps the task's fencing token and leases it until now + lease_ms. A claimed task is
-- `reserved` (in the node's buffer) until a thread starts it (finish.lua records the start).
-- KEYS: 1-3 queues, 4 leases
-- ARGV: 3 worker id, 4 lease ms, 5 max count, 6 levels to take from (3 = all, 1 = high only),
--       7 most to take from the high level (a node takes no more highs than it can start soon,
--       so a burst spreads over every node's free slots; the rest of the count comes from below)
-- Returns: flat list per task: id, token, type, data, attempts, max_retries, timeout, submitted_at,
--          priority, failures; then top_queued() after the claim
local now = now_ms()
local worker, lease_ms, max, levels = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local max_high = tonumber(ARGV[7])
local out = {}
local leases = {}  -- ZADD arguments: one call for the whole batch, not one per task
local got = 0
for q = 1, levels do
  local limit = max
  if q == 1 then limit = math.min(max, max_high) end
  while got < limit do
    local id = redis.call('LPOP', KEYS[q])
    if not id then break end
    local tk = task_key(id)
    local f = redis.call('HMGET', tk, 'status', 'type', 'data', 'max_retries', 'timeout', 'submitted_at',
      'priority', 'failures', 'token', 'attempts')
    if f[1] == 'queued' then
      local token = tonumber(f[9]) + 1
      local attempts = tonumber(f[10]) + 1
      redis.call('HSET', tk, 'status', 'reserved', 'worker', worker, 'claimed_at', now, 'started_at', '',
        'token', token, 'attempts', attempts)
      leases[#leases + 1] = now + lease_ms
      leases[#leases + 1] = id
      add_event(id, now, 'claimed', worker, token, '')
      got = got + 1
      local o = #out
      out[o + 1] = id; out[o + 2] = token; out[o + 3] = f[2]; out[o + 4] = f[3]; out[o + 5] = attempts
      out[o + 6] = f[4]; out[o + 7] = f[5]; out[o + 8] = f[6]; out[o + 9] = f[7]; out[o + 10] = f[8]
    end
  end
end
call_batched('ZADD', KEYS[4], leases)
out[#out + 1] = top_queued()
return out
