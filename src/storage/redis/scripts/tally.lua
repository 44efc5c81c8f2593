-- Analytics buckets, included by the ingest, click and ad scripts where `include: tally.lua` stands (after `base` and MAX_ADS are set): counters per
-- minute (`am:<minute>`) and hour (`ah:<hour>`) as hashes of metric letters (c counted, d duplicate,
-- b bot impression, k click, K duplicate click, B bot click, p playbacks, s playback seconds), and the
-- counted users in HyperLogLogs per 10 minutes, hour and UTC day (`hm:`, `hh:`, `hd:`), the buckets
-- memory mode reads its windows from (actors/analytics.ts). Each ad row has fields `<metric>|<row>`
-- in the same hashes and sketches `<sketch key>:<row>`; the first MAX_ADS ads seen get rows (set
-- `ads`, list `adl` in order), later ones share `(other)` (flag `ado`). Each bucket expires (on Redis's
-- clock) a little after the longest window that reads it; reads pick buckets by the caller's clock.
-- The hash `tot` holds the same fields all-time (GET /ads/analytics), and never expires.
local counters, sketches, rows = {}, {}, {}
local maxAds = tonumber(MAX_ADS)
-- An ad's row: its own while fewer than maxAds ads have one (first seen first, in `ads`/`adl`), else (other).
local function rowOf(ad)
  local row = rows[ad]
  if row then return row end
  if ad ~= '(other)' and (redis.call('SISMEMBER', base .. 'ads', ad) == 1 or redis.call('SCARD', base .. 'ads') < maxAds) then
    if redis.call('SADD', base .. 'ads', ad) == 1 then redis.call('RPUSH', base .. 'adl', ad) end
    row = ad
  else
    redis.call('SET', base .. 'ado', '1')
    row = '(other)'
  end
  rows[ad] = row
  return row
end
local function bucket(at, what, size) return base .. what .. ':' .. math.floor(at / size) end
local function counterOf(key)
  local c = counters[key]
  if not c then c = {}; counters[key] = c end
  return c
end
local function sketchOf(key, kind)
  local s = sketches[key]
  if not s then s = {kind = kind}; sketches[key] = s end
  return s
end
-- Per distinct time: its counter tables and sketch keys, worked out once (items of a group share one).
local times = {}
local function at_(at)
  local t = times[at]
  if t then return t end
  t = {
    counters = {counterOf(bucket(at, 'am', 60000)), counterOf(bucket(at, 'ah', 3600000)), counterOf(base .. 'tot')},
    series = {counterOf(bucket(at, 'aq', 900000)), counterOf(bucket(at, 'ay', 86400000))},
    sketchKeys = {{bucket(at, 'hm', 600000), 'hm'}, {bucket(at, 'hh', 3600000), 'hh'}, {bucket(at, 'hd', 86400000), 'hd'}},
    sketches = {},
  }
  times[at] = t
  return t
end
local fields = {}
local function tally(at, ad, metric, n)
  n = n or 1
  local t = at_(at)
  local byAd = fields[metric]
  if not byAd then byAd = {}; fields[metric] = byAd end
  local field = byAd[ad]
  if not field then field = metric .. '|' .. rowOf(ad); byAd[ad] = field end
  for j = 1, 3 do
    local c = t.counters[j]
    c[metric] = (c[metric] or 0) + n
    c[field] = (c[field] or 0) + n
  end
  -- The time series beyond the minute buckets: counted impressions and clicks per quarter hour and UTC day.
  if metric == 'c' or metric == 'k' then
    for j = 1, 2 do
      local c = t.series[j]
      c[metric] = (c[metric] or 0) + n
    end
  end
end
local function seen(at, ad, user)
  local t = at_(at)
  local lists = t.sketches[ad]
  if not lists then
    local row = rowOf(ad)
    lists = {}
    for _, k in ipairs(t.sketchKeys) do
      lists[#lists + 1] = sketchOf(k[1], k[2])
      lists[#lists + 1] = sketchOf(k[1] .. ':' .. row, k[2])
    end
    t.sketches[ad] = lists
  end
  for j = 1, 6 do
    local s = lists[j]
    s[#s + 1] = user
  end
end
local KEEP = {am = tonumber(KEEP_AM), ah = 2682000000, hm = 25200000, hh = 90000000, hd = 2682000000, aq = tonumber(KEEP_AQ), ay = tonumber(KEEP_AY)}
local function flushTallies()
  for key, c in pairs(counters) do
    for field, n in pairs(c) do
      if string.sub(field, 1, 1) == 's' then redis.call('HINCRBYFLOAT', key, field, string.format('%.17g', n))
      else redis.call('HINCRBY', key, field, n) end
    end
    local keep = KEEP[string.sub(key, #base + 1, #base + 2)]
    if keep and keep > 0 then redis.call('PEXPIRE', key, keep) end
  end
  for key, users in pairs(sketches) do
    for j = 1, #users, 1000 do redis.call('PFADD', key, unpack(users, j, math.min(j + 999, #users))) end
    redis.call('PEXPIRE', key, KEEP[users.kind])
  end
end
