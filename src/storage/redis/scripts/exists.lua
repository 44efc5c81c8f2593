-- Whether each of KEYS but the last (the epoch key) exists, as a string of `0`/`1`. */
local out = {}
for i = 1, #KEYS - 1 do out[i] = redis.call('EXISTS', KEYS[i]) end
return table.concat(out)
