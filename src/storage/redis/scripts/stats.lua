-- A campaign's stats at ARGV[1] as one consistent read, with the in-memory windows' semantics
-- (actors/counting/windows.ts): last_hour counts the minute holding `at` and the 59 before it,
-- last_day that minute and the 1,439 before it. KEYS = the campaign hash. Returns
-- {last_hour, last_day, total}, or {} when the campaign does not exist.
--
-- The windows read the counted impressions (`c`) of the analytics buckets the ingest script bumps
-- (tally.lua), so a minute is counted in one place: a window's first minutes up to the next whole
-- hour from the minute buckets (`am:`, at most 59), the hours from there on from the hour buckets
-- (`ah:`, at most 26), never the 1,440 minutes of a day. The hour buckets read run through the
-- hour after `at`'s, so minutes later than `at` still count, as in memory mode, for a writer whose
-- clock is up to an hour ahead of the reader's. Both tiers outlive a day (store.ts, tally.lua).
local total = redis.call('HGET', KEYS[1], 't')
if not total then return {} end
local base = string.sub(KEYS[1], 1, -2)
local minute = math.floor(tonumber(ARGV[1]) / 60000)
local lastHour = math.floor(minute / 60) + 1
local function counted(key) return tonumber(redis.call('HGET', base .. key, 'c')) or 0 end
-- Counted impressions in the minutes from `from` on.
local function since(from)
  local firstHour = math.ceil(from / 60)
  local n = 0
  for m = from, firstHour * 60 - 1 do n = n + counted('am:' .. m) end
  for h = firstHour, lastHour do n = n + counted('ah:' .. h) end
  return n
end
return {since(minute - 59), since(minute - 1439), tonumber(total)}
