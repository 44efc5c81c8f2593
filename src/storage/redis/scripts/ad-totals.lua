-- All-time figures per ad row (first seen first, `(other)` last): {} when the campaign does not
-- exist, else {1, row, counted, clicks, playbacks, playback seconds (a string), …}. With ARGV[1] and
-- ARGV[2] (minute numbers), less what the minute buckets ARGV[1]..ARGV[2] hold: the figures as they
-- stood before minute ARGV[1], read in one step with the totals.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local base = string.sub(KEYS[1], 1, -2)
local rows = redis.call('LRANGE', base .. 'adl', 0, -1)
if redis.call('EXISTS', base .. 'ado') == 1 then rows[#rows + 1] = '(other)' end
local later = {}
if ARGV[1] ~= nil then
  for b = tonumber(ARGV[1]), tonumber(ARGV[2]) do
    local f = redis.call('HGETALL', base .. 'am:' .. b)
    for j = 1, #f, 2 do later[f[j]] = (later[f[j]] or 0) + tonumber(f[j + 1]) end
  end
end
local out = {1}
for _, row in ipairs(rows) do
  local v = redis.call('HMGET', base .. 'tot', 'c|' .. row, 'k|' .. row, 'p|' .. row, 's|' .. row)
  out[#out + 1] = row
  out[#out + 1] = tonumber(v[1] or 0) - (later['c|' .. row] or 0)
  out[#out + 1] = tonumber(v[2] or 0) - (later['k|' .. row] or 0)
  out[#out + 1] = tonumber(v[3] or 0) - (later['p|' .. row] or 0)
  out[#out + 1] = string.format('%.17g', tonumber(v[4] or 0) - (later['s|' .. row] or 0))
end
return out
