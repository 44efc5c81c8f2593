-- A page of a campaign's registered ads: ARGV[2] from position ARGV[1], and one more to tell whether
-- there is a next page. Returns {} when the campaign does not exist, else {1, id, JSON, id, JSON, …}.
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
