-- A campaign's time series at ARGV[1]: per requested bucket [start, end) (ARGV from 5, three each:
-- start, end, source), the counted impressions and clicks summed from the source's buckets starting
-- inside it: minute (`am`, 0), quarter-hour (`aq`, 1) or UTC-day (`ay`, 2) hashes, each read only
-- within its retention in buckets (ARGV[2..4]; -1: forever), like memory mode (actors/analytics.ts).
-- Returns {impressions, clicks, …} per bucket, or {} when the campaign does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local base = string.sub(KEYS[1], 1, -2)
local at = tonumber(ARGV[1])
local sources = {['0'] = {'am', 60000, tonumber(ARGV[2])}, ['1'] = {'aq', 900000, tonumber(ARGV[3])}, ['2'] = {'ay', 86400000, tonumber(ARGV[4])}}
local out = {}
for i = 5, #ARGV, 3 do
  local source = sources[ARGV[i + 2]]
  local width, retain = source[2], source[3]
  local now = math.floor(at / width)
  local first = math.ceil(tonumber(ARGV[i]) / width)
  if retain >= 0 and first <= now - retain then first = now - retain + 1 end
  local impressions, clicks = 0, 0
  for b = first, math.ceil(tonumber(ARGV[i + 1]) / width) - 1 do
    local v = redis.call('HMGET', base .. source[1] .. ':' .. b, 'c', 'k')
    impressions = impressions + (tonumber(v[1]) or 0)
    clicks = clicks + (tonumber(v[2]) or 0)
  end
  out[#out + 1] = impressions
  out[#out + 1] = clicks
end
return out
