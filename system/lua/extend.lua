-- Extend the leases a worker still holds (fenced by token).
-- KEYS: 1 leases
-- ARGV: 3 lease ms, 4.. pairs of id, token
-- Returns: ids whose lease this worker lost (re-queued after expiry, or claimed again by
-- another worker). A task this worker already finished is not reported: its ack raced the
-- extension and nothing was lost.
local now = now_ms()
local until_ms = now + tonumber(ARGV[3])
local lost = {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', task_key(id), 'status', 'token')
  if (f[1] == 'running' or f[1] == 'reserved') and f[2] == token then
    redis.call('ZADD', KEYS[1], 'XX', until_ms, id)
  elseif f[2] ~= token or f[1] == 'queued' then
    lost[#lost + 1] = id
  end
end
return lost
