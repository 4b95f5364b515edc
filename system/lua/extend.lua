-- Extend the leases a worker still holds (fenced by token).
-- KEYS: 1 leases
-- ARGV: 3 lease ms, 4.. pairs of id, token
-- Returns: ids whose lease this worker no longer holds (expired and taken over, or finished).
local now = now_ms()
local until_ms = now + tonumber(ARGV[3])
local lost = {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', task_key(id), 'status', 'token')
  if f[1] == 'running' and f[2] == token then
    redis.call('ZADD', KEYS[1], 'XX', until_ms, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
