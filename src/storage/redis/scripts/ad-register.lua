-- Registers an ad's metadata with memory mode's rules: the same id with the same name and URLs
-- again is `exists`, with others `conflict`; beyond MAX_ADS registered ads `limit`; else `created`,
-- and the ad gets a row of its own while there is room. KEYS[1] = the campaign hash. ARGV = ad id,
-- name, image URL, target URL, created at, MAX_ADS. Metadata is in hash `adm` (id → JSON), the
-- registration order in list `adr`. Returns `N` when the campaign does not exist.
local meta = KEYS[1]
if redis.call('EXISTS', meta) == 0 then return 'N' end
local base = string.sub(meta, 1, -2)
local MAX_ADS, KEEP_AM, KEEP_AQ, KEEP_AY = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
-- include: tally.lua
local id = ARGV[1]
local old = redis.call('HGET', base .. 'adm', id)
if old then
  local ad = cjson.decode(old)
  if ad[1] == ARGV[2] and ad[2] == ARGV[3] and ad[3] == ARGV[4] then return 'exists' end
  return 'conflict'
end
if redis.call('HLEN', base .. 'adm') >= maxAds then return 'limit' end
redis.call('HSET', base .. 'adm', id, cjson.encode({ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])}))
redis.call('RPUSH', base .. 'adr', id)
rowOf(id)
return 'created'
