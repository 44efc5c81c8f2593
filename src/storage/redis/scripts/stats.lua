-- A campaign's stats at ARGV[1] as one consistent read, with the in-memory windows' semantics
-- (actors/windows.ts): last_hour is the minute holding `at` and the 59 before it, last_day that
-- minute and the 1,439 before it. KEYS = the campaign hash, its minute buckets. Returns
-- {last_hour, last_day, total}, or {} when the campaign does not exist.
local total = redis.call('HGET', KEYS[1], 't')
if not total then return {} end
local minute = math.floor(tonumber(ARGV[1]) / 60000)
local hour, day = 0, 0
local buckets = redis.call('HGETALL', KEYS[2])
for j = 1, #buckets, 2 do
  local f = tonumber(buckets[j])
  if f > minute - 1440 then
    local n = tonumber(buckets[j + 1])
    day = day + n
    if f > minute - 60 then hour = hour + n end
  end
end
return {hour, day, tonumber(total)}
