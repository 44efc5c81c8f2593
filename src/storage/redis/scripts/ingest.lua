-- One atomic step for a batch of one campaign's impressions. All keys share the hash tag of the
-- campaign (`ic:{<id>}:...`), so one shard owns a campaign and the script never crosses slots.
--
-- KEYS[1] = the campaign hash (`n` name, `s` start, `c` created, `t` total).
-- ARGV = ttl, expiry margin, idempotency ttl, MAX_ADS and the three retentions, then per group: at
-- (arrival), n, and n quadruples (user, tag, ad, event time) where the tag is `-` (plain),
-- `i<impression id>` (an idempotency key) or `b` (a bot: tallied, never counted), and the event time
-- is when the impression happened (`` on arrival). Dedupe and idempotency go by arrival, the start
-- time, minute buckets, analytics and sketches by event time, like memory mode (actors/campaign/campaign.ts).
-- Returns one character per item (c counted, d duplicate, C or D a retry of an impression id first
-- counted or a duplicate, s not started, b bot), or `N` when the campaign
-- does not exist. Counted, duplicate and bot impressions are tallied in the analytics buckets
-- (tally.lua), counted users in its sketches; idempotent retries are not tallied again. The fixed-window rule is the in-memory one (actors/dedupe.ts): a user counts when
-- no counted impression of theirs is less than ttl old; duplicates never move the window.
local meta = KEYS[1]
local start = redis.call('HGET', meta, 's')
if not start then return 'N' end
start = tonumber(start)
local base = string.sub(meta, 1, -2)
local MAX_ADS, KEEP_AM, KEEP_AQ, KEEP_AY = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
-- include: tally.lua
local ttl, margin, idemTtl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out, counted = {}, 0
local i = 8
while i <= #ARGV do
  local atText = ARGV[i]
  local at, n = tonumber(atText), tonumber(ARGV[i + 1])
  i = i + 2
  for _ = 1, n do
    local user, tag, ad, happened = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local when = at
    if happened ~= '' then when = tonumber(happened) end
    local o
    if when < start then
      o = 's'
    elseif tag == 'b' then
      o = 'b'
      tally(when, ad, 'b')
    else
      local idKey
      if tag ~= '-' then
        idKey = base .. 'i:' .. string.sub(tag, 2)
        local seen = redis.call('GET', idKey)
        -- A replay answers its first outcome in upper case (C, D): the caller tells the two apart.
        if seen and at - tonumber(string.sub(seen, 2)) < idemTtl then o = string.upper(string.sub(seen, 1, 1)) end
      end
      if not o then
        local userKey = base .. 'u:' .. user
        local last = redis.call('GET', userKey)
        if last and at - tonumber(last) < ttl then
          o = 'd'
        else
          o = 'c'
          redis.call('SET', userKey, atText, 'PX', ttl + margin)
          counted = counted + 1
          seen(when, ad, user)
        end
        tally(when, ad, o)
        if idKey then redis.call('SET', idKey, o .. atText, 'PX', idemTtl + margin) end
      end
    end
    out[#out + 1] = o
  end
end
if counted > 0 then redis.call('HINCRBY', meta, 't', counted) end
flushTallies()
return table.concat(out)
