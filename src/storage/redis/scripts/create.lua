-- KEYS[1] = the campaign hash; ARGV = name, start, created. Its total starts at 0.
return redis.call('HSET', KEYS[1], 'n', ARGV[1], 's', ARGV[2], 'c', ARGV[3], 't', 0)
