-- One atomic step for a batch of one campaign's clicks, with memory mode's rules
-- (actors/analytics.ts): before the campaign's start a click is `s` (not started); a bot's is `b`
-- (tallied, not counted); with click dedupe on (ttl > 0) a repeat of the same user (or IP) on the same
-- ad less than ttl after its counted click is `d`; otherwise `c`, with its playback time if any.
-- A click with an id seen less than the idempotency ttl before `now` (the batch's arrival) is answered
-- its first outcome in upper case (C, D) and changes nothing; ids are kept under `ki:<id>` as the
-- outcome letter and the arrival time, like impression ids.
-- KEYS[1] = the campaign hash. ARGV = ttl, expiry margin, idempotency ttl, now, MAX_ADS and the three
-- retentions, then 6 per click: at, ad, dedupe key (`` none), bot (`1`/`0`), playback seconds (`` none),
-- click id (`` none). Returns one character per click, or `N` (no campaign).
local meta = KEYS[1]
local start = redis.call('HGET', meta, 's')
if not start then return 'N' end
start = tonumber(start)
local base = string.sub(meta, 1, -2)
local MAX_ADS, KEEP_AM, KEEP_AQ, KEEP_AY = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
-- include: tally.lua
local ttl, margin, idemTtl, nowText = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = tonumber(nowText)
local out = {}
for i = 9, #ARGV, 6 do
  local atText, ad, key, bot, play, id = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local at = tonumber(atText)
  local o
  if at < start then
    o = 's'
  elseif bot == '1' then
    o = 'b'
    tally(at, ad, 'B')
  else
    local idKey
    if id ~= '' then
      idKey = base .. 'ki:' .. id
      local seen = redis.call('GET', idKey)
      if seen and now - tonumber(string.sub(seen, 2)) < idemTtl then o = string.upper(string.sub(seen, 1, 1)) end
    end
    if not o then
      if ttl > 0 and key ~= '' then
        local k = base .. 'k:' .. ad .. '\0' .. key
        local last = redis.call('GET', k)
        if last and at - tonumber(last) < ttl then o = 'd' else redis.call('SET', k, atText, 'PX', ttl + margin) end
      end
      if o == 'd' then
        tally(at, ad, 'K')
      else
        o = 'c'
        tally(at, ad, 'k')
        if play ~= '' then
          tally(at, ad, 'p')
          tally(at, ad, 's', tonumber(play))
        end
      end
      if idKey then redis.call('SET', idKey, o .. nowText, 'PX', idemTtl + margin) end
    end
  end
  out[#out + 1] = o
end
flushTallies()
return table.concat(out)
