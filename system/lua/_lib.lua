-- Shared helpers, prepended to every script by system/scripts.py.
-- Convention for every script: ARGV[1] = task key prefix, ARGV[2] = events key suffix
-- (both from system/keys.py, so no key is spelled here). Times are ms on the Redis clock.
-- MAX_EVENTS, DEAD_MAX and DEAD_TTL_S are constants that system/scripts.py writes above this file.
local TASK_PREFIX, EVENTS_SUFFIX = ARGV[1], ARGV[2]

local function task_key(id) return TASK_PREFIX .. id end
local function events_key(id) return TASK_PREFIX .. id .. EVENTS_SUFFIX end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Events are JSON objects built by concatenation: cjson.encode of a table costs more than the
-- commands around it, and only strings that come from callers need escaping (each one once).
local json_strings = {}
local function json_string(s)
  local e = json_strings[s]
  if not e then e = cjson.encode(s); json_strings[s] = e end
  return e
end

local function add_event(id, now, event, worker, token, detail)
  local ev = '{"t":' .. now .. ',"event":"' .. event .. '"'
  if worker and worker ~= '' then ev = ev .. ',"worker":' .. json_string(worker) end
  local tok = tonumber(token)
  if tok then ev = ev .. ',"token":' .. tok end
  if detail and detail ~= '' then ev = ev .. ',"detail":' .. cjson.encode(detail) end
  local n = redis.call('RPUSH', events_key(id), ev .. '}')
  if MAX_EVENTS > 0 and n > MAX_EVENTS then
    -- keep the first event (submitted) and the newest: drop the second oldest (LREM finds it first)
    redis.call('LSET', events_key(id), 1, '')
    redis.call('LREM', events_key(id), 1, '')
  end
end

-- A task enters the dead-letter queue: its record and events expire after DEAD_TTL_S, entries
-- older than that leave the queue, and past DEAD_MAX the oldest dead task goes with its record.
local function bury(dead_key, id, now)
  redis.call('ZADD', dead_key, now, id)
  redis.call('EXPIRE', task_key(id), DEAD_TTL_S)
  redis.call('EXPIRE', events_key(id), DEAD_TTL_S)
  redis.call('ZREMRANGEBYSCORE', dead_key, '-inf', now - DEAD_TTL_S * 1000)
  local over = redis.call('ZCARD', dead_key) - DEAD_MAX
  if over > 0 then
    for _, old in ipairs(redis.call('ZRANGE', dead_key, 0, over - 1)) do
      redis.call('DEL', task_key(old), events_key(old))
    end
    redis.call('ZREMRANGEBYRANK', dead_key, 0, over - 1)
  end
end

-- KEYS[1..3] are the high, normal and low queues in every script that moves tasks to a queue
-- or reports on them.
local function queue_key(priority)
  if priority == 'high' then return KEYS[1] elseif priority == 'low' then return KEYS[3] end
  return KEYS[2]
end

-- The highest level with a queued task (1 high, 2 normal, 3 low; 0 none). claim and finish
-- return it, so a busy worker learns on every round trip that more urgent work waits.
local function top_queued()
  for q = 1, 3 do
    if redis.call('LLEN', KEYS[q]) > 0 then return q end
  end
  return 0
end

-- One command for a whole batch of arguments (ZADD score/member pairs, ZREM members), in
-- chunks of 1000 (an even number, so pairs stay whole) to stay under Lua's unpack limit.
local function call_batched(cmd, key, args)
  for i = 1, #args, 1000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 999, #args)))
  end
end
