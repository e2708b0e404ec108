package redislimit

import "github.com/redis/go-redis/v9"

// The scripts take every window of one decision in one call, atomically:
// KEYS are the per-window keys of one user key (they share a {hash tag},
// so Redis Cluster keeps them in one slot); ARGV[1] is the cost n and
// ARGV[2] the units wanted (n, or the lease size in high-rate mode, >= n);
// then two numbers per window. Time comes from the Redis server (TIME), in
// microseconds, so the clocks of the gateway instances never matter.
//
// The reply is {allowed, granted, then per window: remaining, reset µs,
// retry µs}. Denied decisions write nothing.

// gcraScript: per window ARGV = emission interval T (µs, fractional),
// burst tolerance tau = burst*T (µs). State: the theoretical arrival time
// (TAT), expiring when it is reached (a key at TAT <= now is the same as no
// key).
//
// Times are µs since 2025-01-01 UTC rather than since 1970, which leaves a
// double enough bits below the microsecond (1/128 µs for decades) to keep
// fractional emission intervals exact: a rate of 300000/s is an interval of
// 3.33 µs, not a rounded 3 or 4. TATs are stored with %.17g, which
// round-trips a double exactly.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1735689600) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local nk = #KEYS
local tats = {}
local grant = want
for i = 1, nk do
  local T = tonumber(ARGV[1 + 2 * i])
  local tau = tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat
  local avail = math.floor((now + tau - tat) / T)
  if avail < grant then grant = avail end
end
local allowed = 0
if grant >= n then allowed = 1 else grant = 0 end
local out = {allowed, grant}
for i = 1, nk do
  local T = tonumber(ARGV[1 + 2 * i])
  local tau = tonumber(ARGV[2 + 2 * i])
  local tat = tats[i]
  local retry = 0
  if allowed == 1 then
    if grant > 0 then
      tat = tat + grant * T
      redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
    end
  else
    retry = tat + n * T - tau - now
    if retry < 0 then retry = 0 end
  end
  local rem = math.floor((now + tau - tat) / T)
  if rem < 0 then rem = 0 end
  out[#out + 1] = rem
  out[#out + 1] = math.ceil(tat - now)
  out[#out + 1] = math.ceil(retry)
end
return out
`)

// slidingScript: per window ARGV = window length W (µs), quota Q. State: a
// hash {s = start of the current aligned window (µs), c = units counted in
// it, p = units counted in the previous one}, expiring after two windows.
// The estimate of units in the sliding window ending now is
// p*(1 - elapsed/W) + c: the previous window's count weighted by how much
// of it the sliding window still covers.
var slidingScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local nk = #KEYS
local st = {}
local grant = want
for i = 1, nk do
  local W = tonumber(ARGV[1 + 2 * i])
  local Q = tonumber(ARGV[2 + 2 * i])
  local start = now - (now % W)
  local h = redis.call('HMGET', KEYS[i], 's', 'c', 'p')
  local s = tonumber(h[1])
  local c = tonumber(h[2]) or 0
  local p = tonumber(h[3]) or 0
  if s == nil then
    c = 0
    p = 0
  elseif s ~= start then
    if s == start - W then p = c else p = 0 end
    c = 0
  end
  local used = p * (1 - (now - start) / W) + c
  local avail = math.floor(Q - used)
  if avail < grant then grant = avail end
  st[i] = {start, c, p, used}
end
local allowed = 0
if grant >= n then allowed = 1 else grant = 0 end
local out = {allowed, grant}
for i = 1, nk do
  local W = tonumber(ARGV[1 + 2 * i])
  local Q = tonumber(ARGV[2 + 2 * i])
  local start, c, p, used = st[i][1], st[i][2], st[i][3], st[i][4]
  local retry = 0
  if allowed == 1 then
    if grant > 0 then
      c = c + grant
      used = used + grant
      redis.call('HSET', KEYS[i], 's', string.format('%d', start), 'c', c, 'p', p)
      redis.call('PEXPIRE', KEYS[i], math.ceil(2 * W / 1000) + 1)
    end
  elseif n <= Q and used + n > Q then
    -- this window lacks room (others may not: they report no wait)
    if c + n <= Q and p > 0 then
      -- later in this window, as the previous window's weight fades
      retry = start + (1 - (Q - c - n) / p) * W - now
    else
      -- in the next window, where this window's count becomes the previous
      local g = 0
      if c > 0 then g = 1 - (Q - n) / c end
      if g < 0 then g = 0 end
      retry = start + W + g * W - now
    end
    if retry < 0 then retry = 0 end
    retry = math.ceil(retry)
  end
  local rem = math.floor(Q - used)
  if rem < 0 then rem = 0 end
  out[#out + 1] = rem
  out[#out + 1] = start + W - now
  out[#out + 1] = retry
end
return out
`)
