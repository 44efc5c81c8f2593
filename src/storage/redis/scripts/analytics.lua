-- A campaign's analytics figures as one consistent read: counters summed over the ARGV[4] buckets
-- of ARGV[3] ms in tier ARGV[2] ending with the one holding ARGV[1], and the distinct users of the
-- union (PFCOUNT over several keys, never a sum) of the ARGV[7] sketches of ARGV[6] ms in tier
-- ARGV[5] ending with the one holding ARGV[9] (ARGV[1] when absent). All keys share the campaign's hash tag, so the union never crosses slots. With
-- ARGV[8] = 1, the same per ad row too (first seen first, `(other)` last). KEYS[1] = the campaign
-- hash. Returns the campaign's figures {counted, duplicates, bot impressions, clicks, duplicate
-- clicks, bot clicks, playbacks, playback seconds (a string), users}, then per row its id and its
-- figures; or {} when the campaign does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local base = string.sub(KEYS[1], 1, -2)
local at = tonumber(ARGV[1])
local tier, size, count = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local byAd = ARGV[8] == '1'
local now = math.floor(at / size)
local sums = {}
for b = now - count + 1, now do
  local f = redis.call('HGETALL', base .. tier .. ':' .. b)
  for j = 1, #f, 2 do
    local field = f[j]
    if byAd or #field == 1 then sums[field] = (sums[field] or 0) + tonumber(f[j + 1]) end
  end
end
local sketch, ssize, scount = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local snow = math.floor(tonumber(ARGV[9] or ARGV[1]) / ssize)
local out = {}
local function figures(suffix)
  local keys = {}
  for b = snow - scount + 1, snow do keys[#keys + 1] = base .. sketch .. ':' .. b .. suffix end
  if #keys == 0 then keys[1] = base .. sketch .. ':none' end
  local function n(metric) return sums[metric .. (suffix == '' and '' or '|' .. string.sub(suffix, 2))] or 0 end
  for _, metric in ipairs({'c', 'd', 'b', 'k', 'K', 'B', 'p'}) do out[#out + 1] = n(metric) end
  out[#out + 1] = string.format('%.17g', n('s'))
  out[#out + 1] = redis.call('PFCOUNT', unpack(keys))
end
figures('')
if byAd then
  local rows = redis.call('LRANGE', base .. 'adl', 0, -1)
  if redis.call('EXISTS', base .. 'ado') == 1 then rows[#rows + 1] = '(other)' end
  for _, row in ipairs(rows) do
    out[#out + 1] = row
    figures(':' .. row)
  end
end
return out
