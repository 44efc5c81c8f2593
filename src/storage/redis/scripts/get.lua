-- KEYS[1] = the campaign hash: its name, start and creation time (nil each when it does not exist).
return redis.call('HMGET', KEYS[1], 'n', 's', 'c')
