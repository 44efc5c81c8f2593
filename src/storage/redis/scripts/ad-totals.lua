-- All-time figures per ad row (first seen first, `(other)` last): {} when the campaign does not
-- exist, else {1, row, counted, clicks, playbacks, playback seconds (a string), …}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local base = string.sub(KEYS[1], 1, -2)
local rows = redis.call('LRANGE', base .. 'adl', 0, -1)
if redis.call('EXISTS', base .. 'ado') == 1 then rows[#rows + 1] = '(other)' end
local out = {1}
for _, row in ipairs(rows) do
  local v = redis.call('HMGET', base .. 'tot', 'c|' .. row, 'k|' .. row, 'p|' .. row, 's|' .. row)
  out[#out + 1] = row
  out[#out + 1] = tonumber(v[1] or 0)
  out[#out + 1] = tonumber(v[2] or 0)
  out[#out + 1] = tonumber(v[3] or 0)
  out[#out + 1] = v[4] or '0'
end
return out
