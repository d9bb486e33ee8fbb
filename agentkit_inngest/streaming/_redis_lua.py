"""The Lua scripts of :class:`~agentkit_inngest.streaming.RedisBroker`.

Each one runs atomically in Redis, so two app processes publishing the same event (a request sent
again to another replica) cannot both append it.

The keys of a channel share one hash tag (one cluster slot):

- ``log``: a Redis stream, the channel's bounded log. Each entry has ``k`` (the
  channel's running count, 1, 2, 3...: a reader that sees it jump knows entries
  are gone) and either ``i`` (event id), ``n`` (bytes) and ``e`` (the event as
  JSON); or ``i``, ``n`` = 0 and ``b`` (an event too large to keep: its body sits
  in a side key for a minute, for live readers); or ``g`` (a count of events a
  publisher dropped while Redis was unreachable);
- ``seen``: a hash, event id -> ``"<k> <entry id>"``, the last ``window`` ids
  (``order`` is the list that ages them out): it drops events published again
  and tells a reader where to resume after an event;
- ``meta``: a hash with ``k``, ``bytes`` (of the kept entries) and ``active`` (runs
  that published and have not ended); ``runs``: run id -> ``1`` (in use) or ``0``
  (ended);
- ``last``: the channel's last event id, kept an hour after the rest is gone,
  so a reader that saw the end of a freed channel is not told of a gap.
"""

from __future__ import annotations

__all__ = ["LOCATE", "PUBLISH", "TOUCH"]

PUBLISH = """
local log, seen, order, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local runs, last, big = KEYS[5], KEYS[6], KEYS[7]
local mode, id, run, body = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local size, retain, cbytes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local window, idle, linger = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local final, bigttl, tomb = ARGV[11] == '1', tonumber(ARGV[12]), tonumber(ARGV[13])
if mode == 'event' then
  if redis.call('HEXISTS', seen, id) == 1 then return false end
  if redis.call('EXISTS', meta) == 0 and redis.call('GET', last) == id then return false end
end
local k = redis.call('HINCRBY', meta, 'k', 1)
local entry
if mode == 'gap' then
  entry = redis.call('XADD', log, '*', 'k', k, 'g', body)
  size = 0
elseif size <= cbytes then
  entry = redis.call('XADD', log, '*', 'k', k, 'i', id, 'n', size, 'e', body)
else
  entry = redis.call('XADD', log, '*', 'k', k, 'i', id, 'n', 0, 'b', '1')
  redis.call('SET', big, body, 'EX', bigttl)
  size = 0
end
local bytes = redis.call('HINCRBY', meta, 'bytes', size)
while redis.call('XLEN', log) > retain or bytes > cbytes do
  local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  if oldest == nil then
    redis.call('HSET', meta, 'bytes', 0)
    break
  end
  local n = 0
  for i = 1, #oldest[2], 2 do
    if oldest[2][i] == 'n' then n = tonumber(oldest[2][i + 1]) end
  end
  redis.call('XDEL', log, oldest[1])
  bytes = redis.call('HINCRBY', meta, 'bytes', -n)
end
if mode == 'event' then
  redis.call('HSET', seen, id, k .. ' ' .. entry)
  redis.call('RPUSH', order, id)
  if redis.call('LLEN', order) > window then
    redis.call('HDEL', seen, redis.call('LPOP', order))
  end
  redis.call('SET', last, id, 'EX', tomb)
  if final then
    if redis.call('HGET', runs, run) == '1' then redis.call('HINCRBY', meta, 'active', -1) end
    redis.call('HSET', runs, run, '0')
  elseif redis.call('HSETNX', runs, run, '1') == 1 then
    redis.call('HINCRBY', meta, 'active', 1)
  end
end
local ttl = idle
if tonumber(redis.call('HGET', meta, 'active') or '0') <= 0 then ttl = linger end
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
return {k, entry}
"""
"""Append an event (``mode`` ``event``) or a drop marker (``gap``) to a channel,
bound its log, age out its ids and set how long it lives. ``false`` when the
event was there already."""

LOCATE = """
local k = tonumber(redis.call('HGET', KEYS[3], 'k') or '0')
local tail = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last_entry = ''
if tail[1] then last_entry = tail[1][1] end
local anchor, tomb = '', ''
if ARGV[1] ~= '' then
  anchor = redis.call('HGET', KEYS[2], ARGV[1]) or ''
  tomb = redis.call('GET', KEYS[4]) or ''
end
return {k, last_entry, anchor, tomb}
"""
"""Where a channel stands: its count, its last entry, where an event id sits
(``"<k> <entry>"``, or empty) and the last event id of a freed channel."""

TOUCH = """
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1], 'GT') end
return tonumber(redis.call('HGET', KEYS[4], 'k') or '0')
"""
"""A reader is still there: keep the channel at least ``linger`` longer. Returns the
channel's count (lower than the reader's: Redis lost the channel)."""
