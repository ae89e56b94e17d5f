/**
 * The Redis store's atomic steps, as Lua scripts. Every key a script touches is passed in KEYS and
 * shares one hash tag (`{prefix}`), so the scripts run unchanged on Redis Cluster.
 *
 * KEYS (the same order for every script):
 *   1 epoch     string  the current epoch; missing after a restart that lost the data
 *   2 jobs      hash    job id → job JSON
 *   3 versions  hash    job id → "<version> <state>" (checked without decoding the JSON), and
 *                       "<job id> w" → "<instance> <write token>" of the write that stored it
 *   4 events    stream  one entry per change: e = epoch, j = job JSON, i = writing instance,
 *                       v = the writer's token for the write (how it knows its own events)
 *   5 keys      hash    idempotency key → id of the busy job holding it
 *   6 leases    zset    job id → lease deadline (ms, Redis's clock)
 *   7 owners    hash    job id → instance that holds the lease
 *   8 slotted   hash    job id → "<limit>\t<queue order>\t<slot name>" while a job with a concurrency
 *                       slot is queued or running
 *   9 loglines  hash    "<job id>#<seq>" → one log line's JSON (the newest `keep` lines of each job)
 *  10 logseq    hash    job id → the seq of its newest log line
 *
 * Every script that writes first checks the epoch: against a Redis that restarted empty it answers
 * `epoch` and writes nothing, so no write lands in a history the clients cannot resume from.
 *
 * `create` and `write` may run twice: a connection that drops after Redis ran a script but before its
 * answer arrived makes ioredis send it again. The second run finds the job exactly as the first left
 * it (the same JSON, written by the same instance with the same write token) and answers `again`:
 * applied, by this very write, whose event the first run recorded. Another write of the same JSON (a
 * stale copy) is a conflict like any.
 */

const NOW = `local t = redis.call('TIME'); local now = t[1] * 1000 + math.floor(t[2] / 1000)`;
/** Whether the job's stored JSON was written by this very write (ARGV: json 3, owner 8, token 11). */
const SAME_WRITE = `local function same_write(id) return redis.call('HGET', KEYS[2], id) == ARGV[3] and redis.call('HGET', KEYS[3], id .. ' w') == ARGV[8] .. ' ' .. ARGV[11] end`;
const EPOCH_CHECK = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'epoch'} end`;
/** Busy states, as the second word of a `versions` entry. */
const BUSY = `local function busy(meta) return meta ~= false and (string.find(meta, ' queued$') or string.find(meta, ' pending$') or string.find(meta, ' running$')) end`;
/** Records the lease, or drops it when the job left `queued`/`running` (ARGV: state, lease flag, owner, lease ms). */
const LEASE = `
local function lease(id, state, flag, owner, ms)
  if state ~= 'queued' and state ~= 'running' then
    redis.call('ZREM', KEYS[6], id)
    redis.call('HDEL', KEYS[7], id)
  elseif flag == '1' then
    redis.call('ZADD', KEYS[6], now + tonumber(ms), id)
    redis.call('HSET', KEYS[7], id, owner)
  end
end`;

/**
 * create(epoch, id, json, version-state, idempotency key or '', state, lease flag, owner, lease ms, max length,
 *        write token, slot entry or '')
 * → {'ok', stream id} | {'again'} | {'held', job JSON} | {'exists'} | {'epoch'}
 */
export const CREATE = `
${EPOCH_CHECK}
${NOW}
${BUSY}
${LEASE}
${SAME_WRITE}
local id, key = ARGV[2], ARGV[5]
local slot = ARGV[12]
if redis.call('HEXISTS', KEYS[3], id) == 1 then
  if same_write(id) then return {'again'} end
  return {'exists'}
end
if key ~= '' then
  local holder = redis.call('HGET', KEYS[5], key)
  if holder and busy(redis.call('HGET', KEYS[3], holder)) then
    return {'held', redis.call('HGET', KEYS[2], holder)}
  end
end
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('HSET', KEYS[3], id, ARGV[4], id .. ' w', ARGV[8] .. ' ' .. ARGV[11])
if key ~= '' then redis.call('HSET', KEYS[5], key, id) end
if slot ~= '' and (ARGV[6] == 'queued' or ARGV[6] == 'running') then redis.call('HSET', KEYS[8], id, slot) end
lease(id, ARGV[6], ARGV[7], ARGV[8], ARGV[9])
return {'ok', redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', 'e', ARGV[1], 'j', ARGV[3], 'i', ARGV[8], 'v', ARGV[11])}
`;

/**
 * First come, first served in a concurrency slot: may the job (`entry` = its `slotted` value) start?
 * Only when no older job of the slot is still queued and fewer than its limit are running.
 */
const ROOM = `
local function room(id, entry)
  local limit, order, name = string.match(entry, '^(%d+)\t([^\t]*)\t(.*)$')
  local running = 0
  local all = redis.call('HGETALL', KEYS[8])
  for i = 1, #all, 2 do
    local other = all[i]
    local olimit, oorder, oname = string.match(all[i + 1], '^(%d+)\t([^\t]*)\t(.*)$')
    if other ~= id and oname == name then
      local meta = redis.call('HGET', KEYS[3], other)
      if meta and string.find(meta, ' running$') then running = running + 1
      elseif meta and string.find(meta, ' queued$') and oorder < order then return false end
    end
  end
  return running < tonumber(limit)
end`;

/**
 * write(epoch, id, json, version-state, idempotency key or '', state, lease flag, owner, lease ms, max length,
 *       write token, previous version, slot entry or '')
 * → {'ok', stream id} | {'again'} | {'conflict', job JSON or false} | {'busy', job JSON} | {'epoch'}
 */
export const WRITE = `
${EPOCH_CHECK}
${NOW}
${LEASE}
${ROOM}
${SAME_WRITE}
local id, key, state = ARGV[2], ARGV[5], ARGV[6]
local meta = redis.call('HGET', KEYS[3], id)
if not meta then return {'conflict', false} end
if string.match(meta, '^%d+') ~= ARGV[12] then
  if same_write(id) then return {'again'} end
  return {'conflict', redis.call('HGET', KEYS[2], id)}
end
local slot = redis.call('HGET', KEYS[8], id)
if not slot and ARGV[13] ~= '' then slot = ARGV[13] end
if slot and string.find(meta, ' queued$') and state == 'running' and not room(id, slot) then
  return {'busy', redis.call('HGET', KEYS[2], id)}
end
if slot and (state == 'queued' or state == 'running') then redis.call('HSET', KEYS[8], id, slot)
else redis.call('HDEL', KEYS[8], id) end
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('HSET', KEYS[3], id, ARGV[4], id .. ' w', ARGV[8] .. ' ' .. ARGV[11])
if key ~= '' and state ~= 'queued' and state ~= 'pending' and state ~= 'running' then
  if redis.call('HGET', KEYS[5], key) == id then redis.call('HDEL', KEYS[5], key) end
end
lease(id, state, ARGV[7], ARGV[8], ARGV[9])
return {'ok', redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', 'e', ARGV[1], 'j', ARGV[3], 'i', ARGV[8], 'v', ARGV[11])}
`;

/**
 * log(epoch, job id, line JSON without its seq, keep, max length, owner, write token) → {'ok', stream id, seq}:
 * numbers the line, keeps the newest `keep` lines of the job, and records it as an event.
 */
export const LOG = `
${EPOCH_CHECK}
local id, keep = ARGV[2], tonumber(ARGV[4])
local seq = redis.call('HINCRBY', KEYS[10], id, 1)
local line = '{"seq":' .. seq .. ',' .. string.sub(ARGV[3], 2)
redis.call('HSET', KEYS[9], id .. '#' .. seq, line)
if seq > keep then redis.call('HDEL', KEYS[9], id .. '#' .. (seq - keep)) end
local sid = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[1], 'l', line, 'd', id, 'i', ARGV[6], 'v', ARGV[7])
return {'ok', sid, seq}
`;

/** renew(epoch, owner, lease ms, id…) → how many leases were renewed (those this owner still holds). */
export const RENEW = `
${EPOCH_CHECK}
${NOW}
local renewed = 0
for i = 4, #ARGV do
  if redis.call('HGET', KEYS[7], ARGV[i]) == ARGV[2] then
    redis.call('ZADD', KEYS[6], 'XX', now + tonumber(ARGV[3]), ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
`;

/**
 * claim(epoch, owner, lease ms, limit, id…) → {job JSON…}: takes over busy jobs whose lease ran out,
 * and the listed ones when they are busy and hold no lease at all (found at load). The claimer ends
 * them; if it dies first, its own claim runs out and another instance does.
 */
export const CLAIM = `
${EPOCH_CHECK}
${NOW}
local claimed = {}
local function take(id)
  local meta = redis.call('HGET', KEYS[3], id)
  if meta and (string.find(meta, ' queued$') or string.find(meta, ' running$')) then
    redis.call('ZADD', KEYS[6], now + tonumber(ARGV[3]), id)
    redis.call('HSET', KEYS[7], id, ARGV[2])
    claimed[#claimed + 1] = redis.call('HGET', KEYS[2], id)
  else
    redis.call('ZREM', KEYS[6], id)
    redis.call('HDEL', KEYS[7], id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do take(id) end
for i = 5, #ARGV do
  if redis.call('ZSCORE', KEYS[6], ARGV[i]) == false then take(ARGV[i]) end
end
return claimed
`;

/**
 * restore(epoch, owner, lease ms, then per job: id, json, version-state, idempotency key or '', owned flag)
 * → how many were written. After a restart that lost the data, writes back what an instance still
 * holds, never over a job another instance wrote back first. A queued or running job gets a lease:
 * its owner's, or a provisional one its owner takes over when it restores in turn (and that, if
 * nobody does, runs out, so the job is ended).
 */
export const RESTORE = `
${EPOCH_CHECK}
${NOW}
local written = 0
for i = 4, #ARGV, 5 do
  local id, json, meta, key, owned = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if redis.call('HSETNX', KEYS[3], id, meta) == 1 then
    redis.call('HSET', KEYS[2], id, json)
    written = written + 1
  end
  local stored = redis.call('HGET', KEYS[3], id)
  local live = string.find(stored, ' queued$') or string.find(stored, ' running$')
  if key ~= '' and (live or string.find(stored, ' pending$')) then redis.call('HSETNX', KEYS[5], key, id) end
  if live and owned == '1' then
    redis.call('ZADD', KEYS[6], now + tonumber(ARGV[3]), id)
    redis.call('HSET', KEYS[7], id, ARGV[2])
  elseif live and redis.call('ZSCORE', KEYS[6], id) == false then
    redis.call('ZADD', KEYS[6], now + tonumber(ARGV[3]), id)
    redis.call('HSET', KEYS[7], id, '')
  end
end
return written
`;

/** remove(epoch, keep, id…): forgets finished jobs past their retention, and their log lines. */
export const REMOVE = `
${EPOCH_CHECK}
local keep = tonumber(ARGV[2])
for i = 3, #ARGV do
  local id = ARGV[i]
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id, id .. ' w')
  redis.call('HDEL', KEYS[8], id)
  local last = tonumber(redis.call('HGET', KEYS[10], id) or '0')
  for seq = math.max(1, last - keep + 1), last do redis.call('HDEL', KEYS[9], id .. '#' .. seq) end
  redis.call('HDEL', KEYS[10], id)
end
return #ARGV - 2
`;
