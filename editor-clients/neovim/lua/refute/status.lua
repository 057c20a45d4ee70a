-- Live runs from `refute/runUpdate` and `$/progress`, formatted for a statusline.
local M = {}

local FINISHED = {
  cancelled = true,
  failed = true,
  completed = true,
  ['completed with failures'] = true,
  interrupted = true, -- a run another process drove whose process died
  budget_reached = true, -- the budget stopped dispatch: :RefuteResume RUN tokens=N usd=X continues it
}

function M.is_finished(status)
  return FINISHED[status] == true
end

--- 950 -> "950", 12345 -> "12.3k", 4200000 -> "4.2M"
function M.format_tokens(n)
  n = n or 0
  if n < 1000 then
    return tostring(math.floor(n + 0.5))
  end
  local value, suffix = n / 1000, 'k'
  if n >= 1000000 then
    value, suffix = n / 1000000, 'M'
  end
  return (string.format('%.1f', value):gsub('%.0$', '')) .. suffix
end

--- Cents, or more digits for fractions of a cent so cheap runs aren't "$0.00".
function M.format_usd(usd)
  usd = usd or 0
  if usd == 0 then
    return '$0'
  end
  if usd < 0.01 then
    return string.format('$%.4f', usd)
  end
  return string.format('$%.2f', usd)
end

function M.describe(run)
  local calls = string.format('%d calls', run.callsDone or 0)
  if (run.inFlight or 0) > 0 then
    calls = calls .. string.format(' (%d in flight)', run.inFlight)
  end
  if (run.callsFailed or 0) > 0 then
    calls = calls .. string.format(', %d failed', run.callsFailed)
  end
  local parts = { (run.workflow or '?') .. ' ' .. (run.status or '?') }
  if run.phase and run.phase ~= '' then
    table.insert(parts, run.phase)
  end
  vim.list_extend(parts, { calls, M.format_tokens(run.tokens) .. ' tokens', M.format_usd(run.costUsd) })
  return table.concat(parts, ' · ')
end

--- A tracker of runs by id; finished runs stay visible for `keep_ms`.
function M.new_tracker(keep_ms)
  local tracker = { runs = {}, order = {}, keep_ms = keep_ms or 10000, progress = nil }

  function tracker:update(update, now)
    now = now or vim.uv.now()
    local entry = self.runs[update.runId]
    if not entry then
      table.insert(self.order, update.runId)
      entry = {}
      self.runs[update.runId] = entry
    end
    entry.update = update
    if M.is_finished(update.status) then
      entry.finished_at = entry.finished_at or now
    else
      entry.finished_at = nil
    end
  end

  --- Runs to show, oldest first; forgets finished ones older than keep_ms.
  function tracker:visible(now)
    now = now or vim.uv.now()
    local out, keep = {}, {}
    for _, id in ipairs(self.order) do
      local entry = self.runs[id]
      if entry.finished_at and now - entry.finished_at > self.keep_ms then
        self.runs[id] = nil
      else
        table.insert(keep, id)
        table.insert(out, entry.update)
      end
    end
    self.order = keep
    return out
  end

  function tracker:active(now)
    return vim.tbl_filter(function(r)
      return not M.is_finished(r.status)
    end, self:visible(now))
  end

  function tracker:get(id)
    local entry = self.runs[id]
    return entry and entry.update
  end

  return tracker
end

--- One short line: a single run in full, several runs summed; the latest `$/progress`
--- message when no run update has arrived yet.
function M.line(runs, progress)
  if #runs == 0 then
    return progress or ''
  end
  local running = 0
  for _, r in ipairs(runs) do
    if not M.is_finished(r.status) then
      running = running + 1
    end
  end
  if #runs == 1 then
    local r = runs[1]
    return string.format(
      'refute %s %s: %d calls · %s tok · %s',
      r.workflow or '?',
      r.status or '?',
      r.callsDone or 0,
      M.format_tokens(r.tokens),
      M.format_usd(r.costUsd)
    )
  end
  local calls, tokens, cost = 0, 0, 0
  for _, r in ipairs(runs) do
    calls = calls + (r.callsDone or 0)
    tokens = tokens + (r.tokens or 0)
    cost = cost + (r.costUsd or 0)
  end
  return string.format(
    'refute %d/%d runs: %d calls · %s tok · %s',
    running,
    #runs,
    calls,
    M.format_tokens(tokens),
    M.format_usd(cost)
  )
end

return M
