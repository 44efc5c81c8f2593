import { Cluster, Redis } from 'ioredis';
import { IDEMPOTENCY_TTL_MS } from '../../actors/campaign.js';
import {
  DEFAULT_ANALYTICS,
  type AdInfo,
  type AdPage,
  type AdRegistration,
  type AdTotals,
  type AnalyticsOptions,
  type AnalyticsReport,
  type AnalyticsWindow,
  type Click,
  type ClickOutcome,
  type SeriesAnswer,
  type SeriesQuery,
  type WindowFigures,
} from '../../actors/analytics-protocol.js';
import type { CampaignInfo, Outcome, Stats } from '../../actors/protocol.js';
import { remoteCampaignLogic, type CampaignStore, type ImpressionGroup, type RemoteCampaignLogic } from '../../actors/remote-campaign.js';
import type { Config } from '../config.js';
import type { CampaignDirectory } from '../counter.js';
import type { Readiness } from '../health.js';
import type { Logger } from '../log.js';
import { CircuitBreaker, StoreUnavailableError } from './breaker.js';
import { withDeadline } from './deadline.js';
import { EPOCH_GUARD, isEpochMissing, StoreEpoch, StoreResetError, type AcceptReport, type EpochEvent, type EpochState } from './redis-epoch.js';

/** One server (`redis://host:port/db`) or the seed nodes of a Redis Cluster. */
export type RedisEndpoint = { readonly url: string } | { readonly nodes: readonly { readonly host: string; readonly port: number }[] };

export interface RedisStoreOptions {
  readonly endpoint: RedisEndpoint;
  /** DEDUP_TTL. */
  readonly ttlMs: number;
  /** CLICK_DEDUP_TTL (0 or absent: off). */
  readonly clickTtlMs?: number;
  /** ANALYTICS_MAX_ADS: ads with figures of their own per campaign; later ones share `(other)` (default 1,000). */
  readonly maxAds?: number;
  /** How long minute, hour and day series buckets are read (SERIES_*_RETENTION). */
  readonly retention?: Pick<AnalyticsOptions, 'minuteRetentionMs' | 'hourRetentionMs' | 'dayRetentionMs'>;
  /** How long one command may take before it counts as a failure. */
  readonly commandTimeoutMs: number;
  /** How long the circuit stays open after failures before Redis is probed again; also `Retry-After`. */
  readonly retryIntervalMs: number;
  /** Connection errors the client reports (already reflected in failed calls); for logging. */
  readonly onClientError?: (err: Error) => void;
  /** How often the store's epoch is sampled to notice a Redis that lost its data (default 5 s); also the `Retry-After` while it is lost. */
  readonly checkIntervalMs?: number;
  /** REDIS_ACCEPT_RESET=on: a store found to have lost its data is accepted as it is at once (still reported). */
  readonly acceptReset?: boolean;
  /** Told when the store is set up, found to have lost its data, and when that is accepted (see redis-epoch.ts). */
  readonly onEpoch?: (event: EpochEvent) => void;
}

/** Consecutive failed calls that open the circuit. */
const BREAKER_THRESHOLD = 3;
/**
 * Dedupe and idempotency keys outlive their window by this much. The scripts decide with the
 * caller's clock (the stored time), never with key expiry, which runs on Redis's clock: the margin
 * only has to cover the skew between the two, and frees the memory soon after.
 */
const EXPIRY_MARGIN_MS = 60_000;
/** Every key starts with this, so the service's keys are easy to tell apart in a shared Redis. */
const PREFIX = 'ic:';
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const CAMPAIGN_LIST = `${PREFIX}campaigns`;

/**
 * Analytics buckets, shared by the ingest and click scripts (defined after `base`): counters per
 * minute (`am:<minute>`) and hour (`ah:<hour>`) as hashes of metric letters (c counted, d duplicate,
 * b bot impression, k click, K duplicate click, B bot click, p playbacks, s playback seconds), and the
 * counted users in HyperLogLogs per 10 minutes, hour and UTC day (`hm:`, `hh:`, `hd:`), the buckets
 * memory mode reads its windows from (actors/analytics.ts). Each ad row has fields `<metric>|<row>`
 * in the same hashes and sketches `<sketch key>:<row>`; the first MAX_ADS ads seen get rows (set
 * `ads`, list `adl` in order), later ones share `(other)` (flag `ado`). Each bucket expires (on Redis's
 * clock) a little after the longest window that reads it; reads pick buckets by the caller's clock.
 * The hash `tot` holds the same fields all-time (GET /ads/analytics), and never expires.
 */
const TALLY_LUA = `
local counters, sketches, rows = {}, {}, {}
local maxAds = tonumber(MAX_ADS)
-- An ad's row: its own while fewer than maxAds ads have one (first seen first, in \`ads\`/\`adl\`), else (other).
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
`;

/**
 * One atomic step for a batch of one campaign's impressions. All keys share the hash tag of the
 * campaign (`ic:{<id>}:...`), so one shard owns a campaign and the script never crosses slots.
 *
 * KEYS[1] = the campaign hash (`n` name, `s` start, `c` created, `t` total).
 * ARGV = ttl, expiry margin, idempotency ttl, MAX_ADS and the three retentions, then per group: at
 * (arrival), n, and n quadruples (user, tag, ad, event time) where the tag is `-` (plain),
 * `i<impression id>` (an idempotency key) or `b` (a bot: tallied, never counted), and the event time
 * is when the impression happened (`` on arrival). Dedupe and idempotency go by arrival, the start
 * time, minute buckets, analytics and sketches by event time, like memory mode (actors/campaign.ts).
 * Returns one character per item (c counted, d duplicate, C or D a retry of an impression id first
 * counted or a duplicate, s not started, b bot), or `N` when the campaign
 * does not exist. Counted, duplicate and bot impressions are tallied in the analytics buckets
 * (TALLY_LUA), counted users in its sketches; idempotent retries are not tallied again. The fixed-window rule is the in-memory one (actors/dedupe.ts): a user counts when
 * no counted impression of theirs is less than ttl old; duplicates never move the window.
 */
const INGEST_LUA = `
local meta = KEYS[1]
local start = redis.call('HGET', meta, 's')
if not start then return 'N' end
start = tonumber(start)
local base = string.sub(meta, 1, -2)
local MAX_ADS, KEEP_AM, KEEP_AQ, KEEP_AY = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
${TALLY_LUA}
local ttl, margin, idemTtl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out, buckets, counted = {}, {}, 0
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
          local minute = math.floor(when / 60000)
          buckets[minute] = (buckets[minute] or 0) + 1
          seen(when, ad, user)
        end
        tally(when, ad, o)
        if idKey then redis.call('SET', idKey, o .. atText, 'PX', idemTtl + margin) end
      end
    end
    out[#out + 1] = o
  end
end
if counted > 0 then
  redis.call('HINCRBY', meta, 't', counted)
  local minutes, newest, added = base .. 'm', nil, false
  for minute, n in pairs(buckets) do
    if redis.call('HINCRBY', minutes, minute, n) == n then added = true end
    if newest == nil or minute > newest then newest = minute end
  end
  -- A new minute made more than a day of buckets: drop those that fell out of the day window.
  if added and redis.call('HLEN', minutes) > 1440 then
    for _, f in ipairs(redis.call('HKEYS', minutes)) do
      if tonumber(f) <= newest - 1440 then redis.call('HDEL', minutes, f) end
    end
  end
end
flushTallies()
return table.concat(out)
`;

/**
 * A campaign's stats at ARGV[1] as one consistent read, with the in-memory windows' semantics
 * (actors/windows.ts): last_hour is the minute holding \`at\` and the 59 before it, last_day that
 * minute and the 1,439 before it. KEYS = the campaign hash, its minute buckets. Returns
 * {last_hour, last_day, total}, or {} when the campaign does not exist.
 */
const STATS_LUA = `
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
`;

/**
 * One atomic step for a batch of one campaign's clicks, with memory mode's rules
 * (actors/analytics.ts): before the campaign's start a click is `s` (not started); a bot's is `b`
 * (tallied, not counted); with click dedupe on (ttl > 0) a repeat of the same user (or IP) on the same
 * ad less than ttl after its counted click is `d`; otherwise `c`, with its playback time if any.
 * A click with an id seen less than the idempotency ttl before `now` (the batch's arrival) is answered
 * its first outcome in upper case (C, D) and changes nothing; ids are kept under `ki:<id>` as the
 * outcome letter and the arrival time, like impression ids.
 * KEYS[1] = the campaign hash. ARGV = ttl, expiry margin, idempotency ttl, now, MAX_ADS and the three
 * retentions, then 6 per click: at, ad, dedupe key (`` none), bot (`1`/`0`), playback seconds (`` none),
 * click id (`` none). Returns one character per click, or `N` (no campaign).
 */
const CLICKS_LUA = `
local meta = KEYS[1]
local start = redis.call('HGET', meta, 's')
if not start then return 'N' end
start = tonumber(start)
local base = string.sub(meta, 1, -2)
local MAX_ADS, KEEP_AM, KEEP_AQ, KEEP_AY = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
${TALLY_LUA}
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
        local k = base .. 'k:' .. ad .. '\\0' .. key
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
`;

/**
 * A campaign's analytics figures at ARGV[1] as one consistent read: counters summed over the
 * ARGV[4] buckets of ARGV[3] ms in tier ARGV[2] ending with the one holding \`at\`, and the distinct
 * users of the union (PFCOUNT over several keys, never a sum) of the ARGV[7] sketches of ARGV[6] ms in
 * tier ARGV[5]. All keys share the campaign's hash tag, so the union never crosses slots. With
 * ARGV[8] = 1, the same per ad row too (first seen first, \`(other)\` last). KEYS[1] = the campaign
 * hash. Returns the campaign's figures {counted, duplicates, bot impressions, clicks, duplicate
 * clicks, bot clicks, playbacks, playback seconds (a string), users}, then per row its id and its
 * figures; or {} when the campaign does not exist.
 */
const ANALYTICS_LUA = `
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
local snow = math.floor(at / ssize)
local out = {}
local function figures(suffix)
  local keys = {}
  for b = snow - scount + 1, snow do keys[#keys + 1] = base .. sketch .. ':' .. b .. suffix end
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
`;

/**
 * Registers an ad's metadata with memory mode's rules: the same id with the same name and URLs
 * again is `exists`, with others `conflict`; beyond MAX_ADS registered ads `limit`; else `created`,
 * and the ad gets a row of its own while there is room. KEYS[1] = the campaign hash. ARGV = ad id,
 * name, image URL, target URL, created at, MAX_ADS. Metadata is in hash `adm` (id → JSON), the
 * registration order in list `adr`. Returns `N` when the campaign does not exist.
 */
const AD_REGISTER_LUA = `
local meta = KEYS[1]
if redis.call('EXISTS', meta) == 0 then return 'N' end
local base = string.sub(meta, 1, -2)
local MAX_ADS, KEEP_AM, KEEP_AQ, KEEP_AY = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
${TALLY_LUA}
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
`;

/**
 * A page of a campaign's registered ads: ARGV[2] from position ARGV[1], and one more to tell whether
 * there is a next page. Returns {} when the campaign does not exist, else {1, id, JSON, id, JSON, …}.
 */
const AD_LIST_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local base = string.sub(KEYS[1], 1, -2)
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {1}
local ids = redis.call('LRANGE', base .. 'adr', after, after + limit)
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', base .. 'adm', id)
end
return out
`;

/**
 * All-time figures per ad row (first seen first, \`(other)\` last): {} when the campaign does not
 * exist, else {1, row, counted, clicks, playbacks, playback seconds (a string), …}.
 */
const AD_TOTALS_LUA = `
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
`;

/**
 * A campaign's time series at ARGV[1]: per requested bucket [start, end) (ARGV from 5, three each:
 * start, end, source), the counted impressions and clicks summed from the source's buckets starting
 * inside it: minute (\`am\`, 0), quarter-hour (\`aq\`, 1) or UTC-day (\`ay\`, 2) hashes, each read only
 * within its retention in buckets (ARGV[2..4]; -1: forever), like memory mode (actors/analytics.ts).
 * Returns {impressions, clicks, …} per bucket, or {} when the campaign does not exist.
 */
const SERIES_LUA = `
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
`;

/** Whether each of KEYS but the last (the epoch key) exists, as a string of `0`/`1`. */
const EXISTS_LUA = `
local out = {}
for i = 1, #KEYS - 1 do out[i] = redis.call('EXISTS', KEYS[i]) end
return table.concat(out)
`;

/** Values per row in the analytics script's answer. */
const FIGURES = 9;

function figuresOf(reply: readonly (number | string)[], i: number): WindowFigures {
  const n = (k: number): number => Number(reply[i + k]);
  return {
    counted: n(0),
    duplicates: n(1),
    botImpressions: n(2),
    clicks: n(3),
    duplicateClicks: n(4),
    botClicks: n(5),
    playbackCount: n(6),
    playbackSeconds: n(7),
    uniqueUsers: n(8),
  };
}

/** How each analytics window is read: memory mode's buckets (actors/analytics.ts WINDOWS). */
const ANALYTICS_WINDOWS: Record<AnalyticsWindow, readonly [string, number, number, string, number, number]> = {
  '1h': ['am', 60_000, 60, 'hm', 600_000, 6],
  '6h': ['am', 60_000, 360, 'hm', 600_000, 36],
  '24h': ['am', 60_000, 1440, 'hh', 3_600_000, 24],
  '7d': ['ah', 3_600_000, 168, 'hd', 86_400_000, 7],
  '30d': ['ah', 3_600_000, 720, 'hd', 86_400_000, 30],
};

type Client = Redis | Cluster;

/** The scripts, each taking the campaign's keys and, last, the epoch key of their slot. */
interface Scripts {
  icIngest(key: string, epoch: string, ...args: (string | number)[]): Promise<string>;
  icStats(meta: string, minutes: string, epoch: string, at: number): Promise<number[]>;
  icClicks(key: string, epoch: string, ...args: (string | number)[]): Promise<string>;
  icAnalytics(key: string, epoch: string, ...args: (string | number)[]): Promise<(number | string)[]>;
  icAdRegister(key: string, epoch: string, ...args: (string | number)[]): Promise<string>;
  icAdList(key: string, epoch: string, after: number, limit: number): Promise<(number | string)[]>;
  icAdTotals(key: string, epoch: string): Promise<(number | string)[]>;
  icSeries(key: string, epoch: string, ...args: (string | number)[]): Promise<number[]>;
  /** KEYS: one campaign hash, then its slot's epoch key; `0` or `1`. */
  icExists(key: string, epoch: string): Promise<string>;
  /** KEYS: campaign hashes, then the epoch key; one `0`/`1` per campaign. Single Redis only (see `exists`). */
  icExistsMany(keyCount: number, ...keys: string[]): Promise<string>;
  icGet(key: string, epoch: string): Promise<(string | null)[]>;
  icCreate(key: string, epoch: string, name: string, start: number, created: number): Promise<number>;
}

const OUTCOMES: Readonly<Record<string, Outcome>> = { c: 'counted', d: 'duplicate', C: 'replayed_counted', D: 'replayed_duplicate', s: 'not_started', b: 'bot_filtered' };
const CLICK_OUTCOMES: Readonly<Record<string, ClickOutcome>> = { c: 'counted', d: 'duplicate', C: 'replayed_counted', D: 'replayed_duplicate', s: 'not_started', b: 'bot_filtered' };

/**
 * Campaigns, dedupe windows and counters in Redis (or a Redis Cluster), for STORE=redis: service
 * nodes hold no counting state, so any number of them can serve the same campaigns and the counts
 * stay exact. Every call goes through a circuit breaker and a deadline, so a slow or absent Redis
 * costs a request at most one command timeout, and then nothing until Redis answers probes again.
 */
export class RedisStore implements CampaignStore, CampaignDirectory {
  private readonly client: Client;
  private readonly breaker: CircuitBreaker;
  private readonly deadlineMs: number;
  private readonly watchers: ((available: boolean) => void)[] = [];
  private readonly changeWatchers: (() => void)[] = [];
  private readonly epoch: StoreEpoch;
  private readonly checkIntervalMs: number;
  private checker: NodeJS.Timeout | undefined;
  private wasAvailable = false;

  private constructor(private readonly options: RedisStoreOptions) {
    const { endpoint, commandTimeoutMs } = options;
    // No `commandTimeout` here: ioredis would reject from a plain timer, which on a busy event loop
    // fires before the reply already waiting in the socket is read. `withDeadline` is the one timer.
    const node = {
      connectTimeout: Math.max(1000, commandTimeoutMs),
      // Fail fast rather than hold commands for a reconnect: a resent script could run twice.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    };
    const reconnect = (times: number): number => Math.min(50 * times, 1000);
    this.client =
      'url' in endpoint
        ? new Redis(endpoint.url, { ...node, enableOfflineQueue: false, retryStrategy: reconnect, enableAutoPipelining: true })
        : new Cluster(
            endpoint.nodes.map((n) => ({ host: n.host, port: n.port })),
            { enableOfflineQueue: false, enableAutoPipelining: true, clusterRetryStrategy: reconnect, slotsRefreshTimeout: Math.max(1000, commandTimeoutMs), redisOptions: node },
          );
    this.client.on('error', (err: Error) => options.onClientError?.(err));
    this.client.defineCommand('icIngest', { numberOfKeys: 2, lua: EPOCH_GUARD + INGEST_LUA });
    this.client.defineCommand('icStats', { numberOfKeys: 3, lua: EPOCH_GUARD + STATS_LUA, readOnly: true });
    this.client.defineCommand('icClicks', { numberOfKeys: 2, lua: EPOCH_GUARD + CLICKS_LUA });
    this.client.defineCommand('icAnalytics', { numberOfKeys: 2, lua: EPOCH_GUARD + ANALYTICS_LUA, readOnly: true });
    this.client.defineCommand('icAdRegister', { numberOfKeys: 2, lua: EPOCH_GUARD + AD_REGISTER_LUA });
    this.client.defineCommand('icAdList', { numberOfKeys: 2, lua: EPOCH_GUARD + AD_LIST_LUA, readOnly: true });
    this.client.defineCommand('icAdTotals', { numberOfKeys: 2, lua: EPOCH_GUARD + AD_TOTALS_LUA, readOnly: true });
    this.client.defineCommand('icSeries', { numberOfKeys: 2, lua: EPOCH_GUARD + SERIES_LUA, readOnly: true });
    this.client.defineCommand('icExists', { numberOfKeys: 2, lua: EPOCH_GUARD + EXISTS_LUA, readOnly: true });
    this.client.defineCommand('icExistsMany', { lua: EPOCH_GUARD + EXISTS_LUA, readOnly: true });
    this.client.defineCommand('icGet', { numberOfKeys: 2, lua: EPOCH_GUARD + "return redis.call('HMGET', KEYS[1], 'n', 's', 'c')", readOnly: true });
    this.client.defineCommand('icCreate', { numberOfKeys: 2, lua: EPOCH_GUARD + "return redis.call('HSET', KEYS[1], 'n', ARGV[1], 's', ARGV[2], 'c', ARGV[3], 't', 0)" });
    // Room for a cluster redirection (two round trips) within one call.
    this.deadlineMs = 2 * commandTimeoutMs + 50;
    this.breaker = new CircuitBreaker({
      store: 'Redis store',
      threshold: BREAKER_THRESHOLD,
      openMs: options.retryIntervalMs,
      probe: () => this.ping(),
      onChange: (open) => {
        // Back after an outage: Redis may have restarted meanwhile, empty.
        if (!open) this.recheck(() => this.epoch.check());
        this.changed();
      },
    });
    this.checkIntervalMs = options.checkIntervalMs ?? 5000;
    this.epoch = new StoreEpoch(this.client, {
      deadlineMs: Math.max(5000, this.deadlineMs),
      acceptReset: options.acceptReset === true,
      onEvent: (event) => {
        options.onEpoch?.(event);
        this.changed();
      },
    });
    // Every (re)connection: a Redis that restarted between two calls may have come back empty.
    this.client.on('ready', () => this.recheck(() => this.epoch.check()));
  }

  /**
   * Connects. When Redis cannot be reached within `waitMs` the store still opens, unavailable
   * (answering 503), and becomes available by itself once Redis answers.
   */
  static async open(options: RedisStoreOptions, waitMs = 5000): Promise<RedisStore> {
    const store = new RedisStore(options);
    store.checker = setInterval(() => store.recheck(() => store.epoch.sample()), store.checkIntervalMs);
    store.checker.unref();
    const until = performance.now() + waitMs;
    for (;;) {
      try {
        await store.ping();
        await store.epoch.check();
        store.wasAvailable = store.available;
        return store;
      } catch {
        if (performance.now() >= until) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    store.breaker.open();
    return store;
  }

  /** Whether calls are served: Redis answers and still holds its data (or its loss was accepted). */
  get available(): boolean {
    return !this.breaker.isOpen && this.epoch.state === 'ok';
  }

  /** What this node knows of the store's epoch (see redis-epoch.ts). */
  get epochState(): EpochState {
    return this.epoch.state;
  }

  /** Why campaign calls are refused, when it is not a passing outage: the store lost its data. */
  get refusal(): string | undefined {
    return this.epoch.state === 'lost' ? `${LOST_REASON}: ${this.epoch.reason}; counting is paused until an operator accepts the reset` : undefined;
  }

  /** Calls `watch` when Redis becomes unavailable (`false`) and available again (`true`). */
  onAvailability(watch: (available: boolean) => void): void {
    this.watchers.push(watch);
  }

  /**
   * Accepts that the store lost its data (POST /api/v1/admin/redis/accept-reset): counting resumes
   * into the store as it is, on this node at once and on others at their next check.
   */
  acceptReset(): Promise<AcceptReport> {
    return this.epoch.accept();
  }

  /** Each master (the one server on a single Redis), for start-up checks of its settings. */
  masters(): { readonly address: string; config(...args: string[]): Promise<unknown> }[] {
    const client = this.client;
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    return nodes.map((n) => ({ address: `${n.options.host ?? '?'}:${n.options.port ?? '?'}`, config: (...args: string[]) => (n.config as (...a: string[]) => Promise<unknown>)(...args) }));
  }

  /** Checks the store's epoch now, as a reconnect does. */
  checkEpoch(): Promise<void> {
    return this.epoch.check();
  }

  /** Keeps `/readyz` unready while Redis is unavailable or has lost its data, from now on. */
  reportTo(readiness: Readiness): void {
    const apply = (): void => readiness.set('redis', this.unreadyReason);
    this.changeWatchers.push(apply);
    apply();
  }

  private get unreadyReason(): string | undefined {
    if (this.epoch.state === 'lost') return `${LOST_REASON}: ${this.epoch.reason}; see POST /api/v1/admin/redis/accept-reset`;
    return this.available ? undefined : UNAVAILABLE_REASON;
  }

  /** Runs a check of the epoch in the background; an unreachable Redis is the breaker's business. */
  private recheck(check: () => Promise<void>): void {
    check().then(
      () => this.changed(),
      () => undefined,
    );
  }

  private changed(): void {
    for (const watch of this.changeWatchers) watch();
    const available = this.available;
    if (available === this.wasAvailable) return;
    this.wasAvailable = available;
    for (const watch of this.watchers) watch(available);
  }

  /**
   * Which of `ids` name campaigns, as one call of the breaker (EXISTS behind the epoch guard): one
   * script for the whole batch on a single Redis, one per id, pipelined per shard, on a cluster.
   */
  async exists(ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    // On a cluster, one script per id: ioredis's cluster auto-pipelining routes a command with a
    // variable number of keys by its first argument (the key count), not by its first key, and then
    // refuses pipelines mixing nodes; and ids of a batch rarely share a slot anyway.
    if (this.client instanceof Cluster) {
      const replies = await this.call(() => Promise.all(ids.map((id) => this.scripts.icExists(this.key(id, 'c'), this.epochKey(id)))));
      return replies.map((r) => r === '1');
    }
    const reply = await this.call(() => this.scripts.icExistsMany(ids.length + 1, ...ids.map((id) => this.key(id, 'c')), this.epochKey(ids[0])));
    if (reply.length !== ids.length) throw new Error(`exists script answered ${reply.length} for ${ids.length} ids`);
    return [...reply].map((r) => r === '1');
  }

  async ingest(campaignId: string, groups: readonly ImpressionGroup[]): Promise<Outcome[]> {
    const args: (string | number)[] = [this.options.ttlMs, EXPIRY_MARGIN_MS, IDEMPOTENCY_TTL_MS, ...this.tallyArgs];
    let items = 0;
    for (const { at, items: group } of groups) {
      args.push(at, group.length);
      for (const item of group) args.push(item.userId, item.bot === true ? 'b' : item.impressionId === undefined ? '-' : 'i' + item.impressionId, item.adId, item.at ?? '');
      items += group.length;
    }
    const reply = await this.call(() => this.scripts.icIngest(this.key(campaignId, 'c'), this.epochKey(campaignId), ...args));
    if (reply === 'N') return new Array<Outcome>(items).fill('not_found');
    if (reply.length !== items) throw new Error(`ingest script answered ${reply.length} outcomes for ${items} items`);
    const outcomes = new Array<Outcome>(items);
    for (let k = 0; k < items; k++) outcomes[k] = OUTCOMES[reply[k]];
    return outcomes;
  }

  async stats(campaignId: string, at: number): Promise<Stats | 'not_found'> {
    const reply = await this.call(() => this.scripts.icStats(this.key(campaignId, 'c'), this.key(campaignId, 'm'), this.epochKey(campaignId), at));
    if (reply.length === 0) return 'not_found';
    return { lastHour: Number(reply[0]), lastDay: Number(reply[1]), total: Number(reply[2]) };
  }

  async clicks(campaignId: string, items: readonly Click[], now: number): Promise<ClickOutcome[]> {
    const args: (string | number)[] = [this.options.clickTtlMs ?? 0, EXPIRY_MARGIN_MS, IDEMPOTENCY_TTL_MS, now, ...this.tallyArgs];
    for (const c of items) {
      const key = c.userId !== undefined ? `u${c.userId}` : c.ipAddress !== undefined ? `i${c.ipAddress}` : '';
      args.push(c.at, c.adId, key, c.bot === true ? 1 : 0, c.playbackTime === undefined ? '' : c.playbackTime, c.clickId ?? '');
    }
    const reply = await this.call(() => this.scripts.icClicks(this.key(campaignId, 'c'), this.epochKey(campaignId), ...args));
    if (reply === 'N') return new Array<ClickOutcome>(items.length).fill('not_found');
    if (reply.length !== items.length) throw new Error(`clicks script answered ${reply.length} outcomes for ${items.length} clicks`);
    return [...reply].map((o) => CLICK_OUTCOMES[o]);
  }

  async analytics(campaignId: string, at: number, window: AnalyticsWindow, byAd = false): Promise<AnalyticsReport | 'not_found'> {
    const reply = await this.call(() => this.scripts.icAnalytics(this.key(campaignId, 'c'), this.epochKey(campaignId), at, ...ANALYTICS_WINDOWS[window], byAd ? 1 : 0));
    if (reply.length === 0) return 'not_found';
    const campaign = figuresOf(reply, 0);
    if (!byAd) return { campaign };
    const ads: { adId: string; figures: WindowFigures }[] = [];
    for (let i = FIGURES; i < reply.length; i += FIGURES + 1) ads.push({ adId: String(reply[i]), figures: figuresOf(reply, i + 1) });
    return { campaign, ads };
  }

  async registerAd(campaignId: string, ad: AdInfo): Promise<AdRegistration | 'not_found'> {
    const reply = await this.call(() => this.scripts.icAdRegister(this.key(campaignId, 'c'), this.epochKey(campaignId), ad.id, ad.name, ad.imageUrl, ad.targetUrl, ad.createdAt, ...this.tallyArgs));
    return reply === 'N' ? 'not_found' : (reply as AdRegistration);
  }

  async listAds(campaignId: string, after: number, limit: number): Promise<AdPage | 'not_found'> {
    const reply = await this.call(() => this.scripts.icAdList(this.key(campaignId, 'c'), this.epochKey(campaignId), after, limit));
    if (reply.length === 0) return 'not_found';
    const ads: AdInfo[] = [];
    for (let i = 1; i + 1 < reply.length && ads.length < limit; i += 2) {
      const [name, imageUrl, targetUrl, createdAt] = JSON.parse(String(reply[i + 1])) as [string, string, string, number];
      ads.push({ id: String(reply[i]), name, imageUrl, targetUrl, createdAt });
    }
    return { ads, next: (reply.length - 1) / 2 > limit ? after + limit : undefined };
  }

  async adTotals(campaignId: string): Promise<AdTotals[] | 'not_found'> {
    const reply = await this.call(() => this.scripts.icAdTotals(this.key(campaignId, 'c'), this.epochKey(campaignId)));
    if (reply.length === 0) return 'not_found';
    const rows: AdTotals[] = [];
    for (let i = 1; i < reply.length; i += 5) {
      rows.push({ adId: String(reply[i]), counted: Number(reply[i + 1]), clicks: Number(reply[i + 2]), playbackCount: Number(reply[i + 3]), playbackSeconds: Number(reply[i + 4]) });
    }
    return rows;
  }

  async series(campaignId: string, at: number, query: SeriesQuery): Promise<SeriesAnswer | 'not_found'> {
    const { retention = DEFAULT_ANALYTICS } = this.options;
    const args: number[] = [
      at,
      Math.max(1440, Math.ceil(retention.minuteRetentionMs / 60_000)),
      Math.ceil(retention.hourRetentionMs / 900_000),
      Number.isFinite(retention.dayRetentionMs) ? retention.dayRetentionMs / DAY_MS : -1,
    ];
    const n = query.starts.length;
    for (let i = 0; i < n; i++) args.push(query.starts[i], query.ends[i], query.sources[i]);
    const reply = await this.call(() => this.scripts.icSeries(this.key(campaignId, 'c'), this.epochKey(campaignId), ...args));
    if (reply.length === 0) return 'not_found';
    const impressions = new Float64Array(n);
    const clicks = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      impressions[i] = Number(reply[2 * i]);
      clicks[i] = Number(reply[2 * i + 1]);
    }
    return { impressions, clicks };
  }

  async create(info: CampaignInfo): Promise<CampaignInfo> {
    await this.call(() => this.scripts.icCreate(this.key(info.id, 'c'), this.epochKey(info.id), info.name, info.startTime, info.createdAt));
    // Listed after it exists: a failure here leaves a campaign that counts but is not listed, never the reverse.
    await this.call(() => this.client.rpush(CAMPAIGN_LIST, info.id));
    return info;
  }

  async get(id: string): Promise<CampaignInfo | undefined> {
    const [name, start, created] = await this.call(() => this.scripts.icGet(this.key(id, 'c'), this.epochKey(id)));
    if (name === null || start === null || created === null) return undefined;
    return { id, name, startTime: Number(start), createdAt: Number(created) };
  }

  async list(after: number, limit: number): Promise<{ campaigns: CampaignInfo[]; next?: number }> {
    // One more than asked says whether there is a next page.
    const ids = await this.call(() => this.client.lrange(CAMPAIGN_LIST, after, after + limit));
    const found = await Promise.all(ids.slice(0, limit).map((id) => this.get(id)));
    return { campaigns: found.filter((c) => c !== undefined), next: ids.length > limit ? after + limit : undefined };
  }

  /** Stops probing and closes the connections. */
  async close(): Promise<void> {
    clearInterval(this.checker);
    this.breaker.stop();
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /**
   * What every tallying script takes: MAX_ADS, then how long minute, quarter-hour and UTC-day series
   * buckets are kept (0: forever), a little longer than the retention reads apply.
   */
  private get tallyArgs(): number[] {
    const { maxAds = 1000, retention = DEFAULT_ANALYTICS } = this.options;
    const keepDays = Number.isFinite(retention.dayRetentionMs) ? retention.dayRetentionMs + 2 * DAY_MS : 0;
    return [maxAds, Math.max(DAY_MS, retention.minuteRetentionMs) + HOUR_MS, retention.hourRetentionMs + DAY_MS, keepDays];
  }

  private get scripts(): Scripts {
    return this.client as unknown as Scripts;
  }

  /** `ic:{<campaign tag>}:<what>` (see `tagOf`). */
  private key(campaignId: string, what: string): string {
    return `${PREFIX}{${tagOf(campaignId)}}:${what}`;
  }

  /** The epoch key in the slot of the campaign's keys, which its scripts check first. */
  private epochKey(campaignId: string): string {
    return this.epoch.keyFor(tagOf(campaignId));
  }

  /** Answers only when every master answers (a cluster with one shard down is not available). */
  private async ping(): Promise<void> {
    const client = this.client;
    if (client.status !== 'ready') throw new Error(`Redis connection is ${client.status}`);
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    if (nodes.length === 0) throw new Error('no Redis Cluster masters known yet');
    await withDeadline(Promise.all(nodes.map((n) => n.ping())), this.deadlineMs);
  }

  /**
   * One Redis call: refused at once while the store is lost (or not yet checked), else through the
   * breaker and a deadline. A script that finds its slot's epoch key missing is an answer (the store
   * lost its data), not a failure of Redis, so it never counts towards opening the breaker.
   */
  private async call<T>(command: () => Promise<T>): Promise<T> {
    this.admit();
    const result = await this.breaker.run(async (): Promise<{ value: T } | { lost: true }> => {
      try {
        return { value: await withDeadline(command(), this.deadlineMs) };
      } catch (err) {
        if (isEpochMissing(err)) return { lost: true };
        throw err;
      }
    });
    if ('lost' in result) {
      this.epoch.scriptFoundLoss();
      this.admit();
      throw new StoreResetError('the Redis store lost its data; retry later', this.checkIntervalMs);
    }
    return result.value;
  }

  private admit(): void {
    const refusal = this.refusal;
    if (refusal !== undefined) throw new StoreResetError(refusal, this.checkIntervalMs);
    if (this.epoch.state === 'unknown') throw new StoreUnavailableError('Redis store', this.options.retryIntervalMs);
  }
}

/**
 * The hash tag of a campaign's keys. Ids made of [A-Za-z0-9_.-] are used as they are (server-made
 * ids always are); any other id is base64url-encoded behind `=`, so that no id can carry a brace
 * that would move the hash tag, nor a colon that would make it collide with another campaign's keys.
 */
function tagOf(campaignId: string): string {
  return /^[\w.-]{1,128}$/.test(campaignId) ? campaignId : '=' + Buffer.from(campaignId).toString('base64url');
}

const UNAVAILABLE_REASON = 'Redis is unavailable';
const LOST_REASON = 'the Redis store lost its data';

/** Per campaign per node: items in one script call, and items waiting behind it before 503s. */
const MAX_ITEMS_PER_CALL = 1000;
const MIN_QUEUED_ITEMS = 20_000;

/**
 * STORE=redis: connects to Redis as configured and returns the store (campaign directory too) and
 * the campaign actor logic that uses it. Unavailability is logged once per outage.
 */
export async function openRedisStore(config: Config, logger: Logger): Promise<{ store: RedisStore; logic: RemoteCampaignLogic }> {
  const endpoint: RedisEndpoint = config.redisUrl !== '' ? { url: config.redisUrl } : { nodes: config.redisClusterNodes };
  const where = 'url' in endpoint ? redactUrl(endpoint.url) : endpoint.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  const store = await RedisStore.open({
    endpoint,
    ttlMs: config.dedupTtlMs,
    clickTtlMs: config.clickDedupTtlMs,
    maxAds: config.analyticsMaxAds,
    retention: { minuteRetentionMs: config.seriesMinuteRetentionMs, hourRetentionMs: config.seriesHourRetentionMs, dayRetentionMs: config.seriesDayRetentionMs },
    commandTimeoutMs: config.redisTimeoutMs,
    retryIntervalMs: config.redisRetryIntervalMs,
    checkIntervalMs: config.redisCheckIntervalMs,
    acceptReset: config.redisAcceptReset,
    onClientError: (err) => logger.debug({ err }, 'Redis client error'),
    onEpoch: (event) => logEpoch(logger, where, event),
  });
  if (store.epochState !== 'unknown') await warnWithoutPersistence(store.masters(), logger);
  // A lost store has its own error line (logEpoch); these are about Redis answering at all.
  store.onAvailability((available) => {
    if (available) logger.info({ redis: where }, 'Redis is available again');
    else if (store.epochState !== 'lost') logger.error({ redis: where }, 'Redis is unavailable: answering 503 until it answers again');
  });
  if (store.epochState === 'unknown') logger.error({ redis: where }, 'Redis is unavailable at start: answering 503 until it answers');
  const logic = remoteCampaignLogic({ store, maxItemsPerCall: MAX_ITEMS_PER_CALL, maxQueuedItems: Math.max(MIN_QUEUED_ITEMS, 2 * config.batchLimit) });
  return { store, logic };
}

function logEpoch(logger: Logger, redis: string, event: EpochEvent): void {
  switch (event.type) {
    case 'initialised':
      logger.info({ redis, epoch: event.epoch }, 'Redis store set up for first use (epoch written)');
      return;
    case 'lost':
      logger.error(
        { redis, reason: event.reason },
        `the Redis store lost its data: ${event.reason}. Counting is paused (503, /readyz unready) so that nothing is counted into an empty store and no existing campaign is answered 404. ` +
          'Restore Redis from a backup and restart it, or accept the loss with POST /api/v1/admin/redis/accept-reset (or REDIS_ACCEPT_RESET=on)',
      );
      return;
    case 'accepted':
      logger.warn(
        { redis, epoch: event.epoch, repaired_slots: event.repairedSlots },
        event.automatically ? 'the Redis store data loss was accepted at once (REDIS_ACCEPT_RESET=on): counting goes on into what is left' : 'the Redis store data loss was accepted: counting resumes into what is left',
      );
      return;
    case 'restored':
      logger.warn({ redis, epoch: event.epoch }, 'the Redis store data loss was accepted by another node: counting resumes');
      return;
  }
}

/**
 * Warns, once per master at start, when Redis keeps no AOF: a restart then loses every count since
 * the last RDB snapshot, or everything without one. A Redis that refuses CONFIG (managed services,
 * ACLs, a renamed command) is only noted at debug level.
 */
export async function warnWithoutPersistence(masters: readonly { readonly address: string; config(...args: string[]): Promise<unknown> }[], logger: Logger): Promise<void> {
  await Promise.all(
    masters.map(async (node) => {
      try {
        const setting = async (name: string): Promise<string> => {
          const reply = (await withDeadline(node.config('GET', name), 2000)) as string[];
          return reply[1] ?? '';
        };
        const [appendonly, save] = [await setting('appendonly'), await setting('save')];
        if (appendonly === 'yes') return;
        logger.warn(
          { redis: node.address, appendonly, save },
          save.trim() === ''
            ? 'Redis runs without persistence (appendonly no, save ""): a restart loses every campaign and count'
            : `Redis keeps no AOF (appendonly no): a restart loses every count since the last RDB snapshot (save "${save}")`,
        );
      } catch (err) {
        logger.debug({ redis: node.address, err }, 'could not read the Redis persistence settings (CONFIG GET refused); not checked');
      }
    }),
  );
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}

export { StoreUnavailableError };
