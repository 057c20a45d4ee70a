-- Drives the refute Neovim plugin in a real headless Neovim against the real language
-- server (scripted provider). Run by test_neovim.py:
--   nvim --headless -u NONE -i NONE --cmd "set rtp^=<plugin>" -c "luafile nvim_e2e.lua"
-- Environment: REFUTE_E2E_SCENARIO (audit|cancel|ask), REFUTE_E2E_ROOT (workspace copy),
-- REFUTE_E2E_CMD (server command, JSON list), REFUTE_E2E_SETTINGS (JSON), and
-- REFUTE_E2E_LOG (where each passed step is written, so a failure shows how far it got).
-- Exits 0 when every check passed, 1 with the reason on stderr otherwise.

local scenario = assert(os.getenv('REFUTE_E2E_SCENARIO'))
local root = assert(os.getenv('REFUTE_E2E_ROOT'))
local cmd = vim.json.decode(assert(os.getenv('REFUTE_E2E_CMD')))
local settings = vim.json.decode(assert(os.getenv('REFUTE_E2E_SETTINGS')))
local log_path = assert(os.getenv('REFUTE_E2E_LOG'))

local log_file = assert(io.open(log_path, 'w'))
local function step(msg)
  log_file:write(msg .. '\n')
  log_file:flush()
end

local function fail(msg)
  step('FAIL: ' .. msg)
  io.stderr:write('FAIL: ' .. msg .. '\n')
  log_file:close()
  vim.cmd('cquit 1')
end

local notifications = {}
vim.notify = function(msg, level)
  table.insert(notifications, msg)
  step(string.format('notify[%s]: %s', tostring(level), msg))
end

--- Waits up to `ms` for `cond`; fails with `what` (and the recent notifications) on timeout.
local function wait_for(ms, what, cond)
  local ok = vim.wait(ms, cond, 50)
  if not ok then
    fail(string.format('timed out after %d ms waiting for %s; notifications: %s', ms, what, vim.inspect(notifications)))
  end
end

-- Only one choice is offered in these scenarios; a prompt must never block headless Neovim.
vim.ui.select = function(items, opts, on_choice)
  step(string.format('ui.select %q: %d item(s)', opts and opts.prompt or '', #items))
  on_choice(items[1], 1)
end

local ok, err = xpcall(function()
  -- What a user's init.lua has and `-u NONE` leaves out.
  vim.cmd('filetype on')
  vim.cmd('runtime plugin/refute.lua')
  assert(vim.fn.exists(':RefuteAudit') == 2, ':RefuteAudit is not defined')
  local refute = require('refute')
  refute.setup({ cmd = cmd, settings = settings })
  vim.cmd.cd(vim.fn.fnameescape(root))
  vim.cmd.edit('app.py')
  local buf = vim.api.nvim_get_current_buf()
  assert(vim.bo[buf].filetype == 'python', 'filetype detection is off: ' .. vim.bo[buf].filetype)

  local client
  wait_for(20000, 'the refute client to attach', function()
    client = vim.lsp.get_clients({ name = 'refute', bufnr = buf })[1]
    return client ~= nil and client.initialized == true
  end)
  step('attached: ' .. tostring(client.root_dir))
  assert(vim.fs.normalize(client.root_dir) == vim.fs.normalize(root), 'root_dir ' .. tostring(client.root_dir))

  local ns = vim.lsp.diagnostic.get_namespace(client.id)
  local function diags()
    return vim.diagnostic.get(buf, { namespace = ns })
  end
  local function find_diag(pattern)
    for _, d in ipairs(diags()) do
      if d.message:find(pattern, 1, true) then
        return d
      end
    end
  end

  local updates = {}
  vim.api.nvim_create_autocmd('User', {
    pattern = 'RefuteRunUpdate',
    callback = function(ev)
      table.insert(updates, ev.data)
    end,
  })
  local function last_status(run_id)
    local status
    for _, u in ipairs(updates) do
      if u.runId == run_id then
        status = u.status
      end
    end
    return status
  end
  local function newest_run()
    local runs = refute.tracker:visible()
    return runs[#runs] and runs[#runs].runId
  end
  --- The server's run list (`refute.runs`), by run id: as sent, or as the plugin parses
  --- it (`parse`); `what` names the wait.
  local function fetch_runs_by_id(what, parse)
    local listed
    refute.execute('refute.runs', {}, function(result)
      listed = parse and parse(result) or result
    end)
    wait_for(10000, what, function()
      return listed ~= nil
    end)
    local by_id = {}
    for _, r in ipairs(listed) do
      by_id[r.id] = r
    end
    return by_id
  end
  local function runs_by_id()
    return fetch_runs_by_id('refute.runs')
  end
  local function parsed_runs_by_id(what)
    return fetch_runs_by_id(what, refute.parse_runs)
  end
  --- Runs the Ex command `cmd` and waits for the run it starts; returns its id.
  local function start_run(cmd)
    local before = newest_run()
    vim.cmd(cmd)
    local id
    wait_for(10000, 'the run of ' .. cmd .. ' to start', function()
      id = newest_run()
      return id ~= nil and id ~= before
    end)
    return id
  end
  local function wait_status(run_id, wanted, ms)
    wait_for(ms or 60000, 'run ' .. run_id .. ' to be ' .. wanted, function()
      return last_status(run_id) == wanted
    end)
  end
  --- Waits for a notification containing `text`; returns the newest such.
  local function wait_notification(ms, what, text)
    local told
    wait_for(ms, what, function()
      for _, n in ipairs(notifications) do
        if n:find(text, 1, true) then
          told = n
        end
      end
      return told ~= nil
    end)
    return told
  end
  --- Waits for a report in a scratch buffer (refute.last_report_buf).
  local function wait_report(ms, what)
    wait_for(ms, what, function()
      return refute.last_report_buf ~= nil and vim.api.nvim_buf_is_valid(refute.last_report_buf)
    end)
  end
  local function report_text()
    return table.concat(vim.api.nvim_buf_get_lines(refute.last_report_buf, 0, -1, false), '\n')
  end

  -- What statusline plugins and progress UIs see: LspProgress events and vim.lsp.status().
  local progress_kinds, lsp_status_seen = {}, {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local value = ev.data.params and ev.data.params.value or {}
      table.insert(progress_kinds, value.kind)
      local line = vim.lsp.status()
      if line ~= '' then
        table.insert(lsp_status_seen, line)
      end
    end,
  })

  if scenario == 'audit' then
    local run_id = start_run('RefuteAudit')
    step('run started: ' .. run_id)
    wait_for(60000, 'both findings as diagnostics', function()
      return find_diag('Division by zero') ~= nil and find_diag('never closed') ~= nil
    end)
    wait_status(run_id, 'completed')
    step('diagnostics: ' .. #diags() .. '; statusline: ' .. refute.statusline())
    local line = refute.statusline()
    assert(line:find('refute audit completed', 1, true), 'statusline: ' .. line)
    wait_for(5000, 'the progress end', function()
      return vim.tbl_contains(progress_kinds, 'end')
    end)
    assert(vim.tbl_contains(progress_kinds, 'begin') and vim.tbl_contains(progress_kinds, 'report'),
      'progress kinds: ' .. vim.inspect(progress_kinds))
    local status_hit
    for _, l in ipairs(lsp_status_seen) do
      if l:find('refute: audit', 1, true) and l:find('calls', 1, true) then
        status_hit = l
      end
    end
    assert(status_hit, 'vim.lsp.status() never showed the run: ' .. vim.inspect(lsp_status_seen))
    step('vim.lsp.status(): ' .. status_hit)

    -- :RefuteFindings: every finding in the quickfix list, the unopened lib/more.py's too.
    wait_for(10000, 'the finding of the unopened lib/more.py', function()
      return #refute.findings() == 3
    end)
    vim.cmd('RefuteFindings')
    local qf = vim.fn.getqflist({ title = 1, items = 1 })
    assert(qf.title == 'refute findings', 'quickfix title ' .. tostring(qf.title))
    local qf_files = {}
    for _, item in ipairs(qf.items) do
      table.insert(qf_files, vim.fn.fnamemodify(vim.api.nvim_buf_get_name(item.bufnr), ':.') .. ':' .. item.lnum .. ' ' .. item.text)
    end
    assert(#qf.items == 3, 'quickfix: ' .. vim.inspect(qf_files))
    assert(qf_files[3]:find('lib/more.py:2 join_words fails on None', 1, true), 'quickfix: ' .. vim.inspect(qf_files))
    step('quickfix: ' .. table.concat(qf_files, ' | '))
    vim.cmd('cclose')
    vim.api.nvim_set_current_buf(buf)
    vim.cmd('RefuteFindings buffer')
    local loc = vim.fn.getloclist(0, { title = 1, items = 1 })
    assert(#loc.items == 2 and loc.title:find('app.py', 1, true), 'location list: ' .. vim.inspect(loc))
    step('location list: ' .. loc.title .. ', ' .. #loc.items .. ' items')
    vim.cmd('lclose')
    vim.api.nvim_set_current_buf(buf)

    -- :RefuteEvidence for the finding under the cursor opens its evidence page.
    local target = assert(find_diag('Division by zero'))
    vim.api.nvim_win_set_cursor(0, { target.lnum + 1, target.col })
    vim.cmd('RefuteEvidence')
    local evidence_buf
    wait_for(10000, 'the evidence page', function()
      for _, b in ipairs(vim.api.nvim_list_bufs()) do
        if vim.api.nvim_buf_get_name(b):find('/.refute/evidence/', 1, true) and vim.api.nvim_buf_is_loaded(b) then
          evidence_buf = b
          return true
        end
      end
      return false
    end)
    local page = table.concat(vim.api.nvim_buf_get_lines(evidence_buf, 0, -1, false), '\n')
    assert(page:find('# Division by zero on an empty list', 1, true), 'evidence page: ' .. page:sub(1, 300))
    step('evidence: ' .. vim.fn.fnamemodify(vim.api.nvim_buf_get_name(evidence_buf), ':t'))
    vim.cmd('only')
    vim.api.nvim_set_current_buf(buf)

    -- Apply the fix through the built-in code action UI.
    local fix = assert(find_diag('Division by zero'))
    assert(fix.lnum == 2, 'the division finding should be on line 3, got ' .. fix.lnum + 1)
    vim.api.nvim_win_set_cursor(0, { fix.lnum + 1, fix.col })
    local offered = {}
    vim.lsp.buf.code_action({
      filter = function(action)
        table.insert(offered, action.title)
        return action.title:lower():find('fix', 1, true) ~= nil or action.title:lower():find('apply', 1, true) ~= nil
      end,
      apply = true,
    })
    wait_for(15000, 'the fix to change the buffer', function()
      return vim.api.nvim_buf_get_lines(buf, 2, 3, false)[1] == '    return total / len(values) if values else 0.0'
    end)
    step('fix applied; actions offered: ' .. table.concat(offered, ' | '))
    vim.cmd.write()
    local on_disk = table.concat(vim.fn.readfile(root .. '/app.py'), '\n')
    assert(on_disk:find('if values else 0.0', 1, true), 'the saved file lacks the fix')

    -- Dismiss the other finding through its code action.
    local leak = assert(find_diag('never closed'), 'the open() finding went away before it was dismissed')
    vim.api.nvim_win_set_cursor(0, { leak.lnum + 1, leak.col })
    offered = {}
    vim.lsp.buf.code_action({
      filter = function(action)
        table.insert(offered, action.title)
        return action.title:lower():find('dismiss', 1, true) ~= nil
      end,
      apply = true,
    })
    wait_for(15000, 'the dismissed diagnostic to disappear', function()
      return find_diag('never closed') == nil
    end)
    step('dismissed; actions offered: ' .. table.concat(offered, ' | '))
    local dismissed_file = root .. '/.refute/dismissed.json'
    wait_for(5000, '.refute/dismissed.json to be written', function()
      return vim.fn.filereadable(dismissed_file) == 1
    end)

    -- The run's report opens as markdown in a scratch buffer.
    vim.cmd('RefuteReport ' .. run_id)
    wait_report(10000, 'the report buffer')
    assert(vim.bo[refute.last_report_buf].filetype == 'markdown', 'report buffer is not markdown')
    local report = report_text()
    assert(report:find('Division by zero', 1, true), 'report lacks the finding: ' .. report:sub(1, 400))
    step('report: ' .. #report .. ' chars')
    -- Shown once, in the scratch buffer, not also as the report file.
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      local name = vim.api.nvim_buf_get_name(b)
      assert(not name:find('/.refute/reports/', 1, true), 'the report file was opened too: ' .. name)
    end

    -- :RefuteRuns picks a run, then an action (the stubbed vim.ui.select takes the first
    -- of each: the newest run, and "Show report" for a finished one).
    refute.last_report_buf = nil
    vim.cmd('RefuteRuns')
    wait_report(10000, 'the report from :RefuteRuns')
    step(':RefuteRuns showed a report')

    -- A range audits just those lines of the current file; the server gets the scope.
    vim.cmd('wincmd p')
    vim.cmd.edit('app.py')
    local range_run = start_run('1,3RefuteAudit')
    wait_status(range_run, 'completed')
    local scope_seen = (runs_by_id()[range_run] or {}).scope
    assert(
      scope_seen and vim.deep_equal(scope_seen.paths, { 'app.py' }) and vim.deep_equal(scope_seen.selection, { 0, 2 }),
      'range run scope: ' .. vim.inspect(scope_seen)
    )
    step('range audit scope: ' .. vim.json.encode(scope_seen))
  elseif scenario == 'cancel' then
    local run_id = start_run('RefuteAudit')
    wait_status(run_id, 'running', 20000)
    local started = vim.uv.hrtime()
    vim.cmd('RefuteCancel')
    wait_status(run_id, 'cancelled', 15000)
    local elapsed_ms = (vim.uv.hrtime() - started) / 1e6
    step(string.format('cancelled in %.0f ms', elapsed_ms))
    -- The server agrees, and nothing runs afterwards.
    local found = parsed_runs_by_id('refute.runs')[run_id]
    assert(found and found.status == 'cancelled', 'refute.runs says ' .. vim.inspect(found))
    assert(refute.statusline():find('cancelled', 1, true), 'statusline: ' .. refute.statusline())
    -- Stopped means stopped: longer than one scripted call later, no call has finished.
    local calls_at_cancel = found.calls_done
    vim.wait(3500, function()
      return false
    end, 100)
    local r = parsed_runs_by_id('refute.runs again')[run_id]
    if r then
      assert(r.status == 'cancelled' and r.calls_done == calls_at_cancel,
        string.format('after cancel: %s, %d calls (was %d)', r.status, r.calls_done, calls_at_cancel))
    end
    step(string.format('still cancelled 3.5 s later with %d calls done', calls_at_cancel))
  elseif scenario == 'migrate' then
    local run_id = start_run('RefuteMigrate add type hints to clamp')
    wait_status(run_id, 'completed')
    local util = root .. '/lib/util.py'
    local before = table.concat(vim.fn.readfile(util), '\n')
    assert(not before:find('-> float', 1, true), 'the migration wrote the file before it was applied')
    step('migration completed; lib/util.py untouched until applied')
    vim.cmd('RefuteApply ' .. run_id)
    local ubuf
    wait_for(15000, 'the proposed edit in lib/util.py', function()
      ubuf = vim.fn.bufnr(util)
      return ubuf > 0
        and vim.api.nvim_buf_get_lines(ubuf, 0, 1, false)[1] == 'def clamp(value: float, low: float, high: float) -> float:'
    end)
    wait_notification(5000, 'the apply result', 'applied 1 edit')
    step('applied through workspace/applyEdit: ' .. vim.api.nvim_buf_get_lines(ubuf, 0, 1, false)[1])
  elseif scenario == 'ask' then
    vim.cmd('RefuteAsk what does average do?')
    wait_report(60000, 'the ask report buffer')
    local report = report_text()
    assert(report:find('divides the sum of the values', 1, true), 'ask report lacks the claim: ' .. report:sub(1, 600))
    assert(vim.bo[refute.last_report_buf].filetype == 'markdown', 'ask report is not markdown')
    step('ask report: ' .. #report .. ' chars')
  elseif scenario == 'budget' then
    -- Issue 12: a run the budget stops ends budget_reached and says how to go on;
    -- :RefuteResume RUN tokens=N continues it with a larger budget.
    local run_id = start_run('RefuteAsk what does average do?')
    wait_status(run_id, 'budget_reached')
    local told = wait_notification(5000, 'the budget notification', ':RefuteResume ' .. run_id .. ' tokens=N usd=X')
    step('budget reached, told: ' .. told)
    assert(refute.statusline():find('budget_reached', 1, true), 'statusline: ' .. refute.statusline())
    vim.cmd('RefuteResume ' .. run_id .. ' tokens=500000')
    wait_status(run_id, 'completed')
    local info = runs_by_id()[run_id]
    assert(info and info.status == 'completed' and info.budget.tokens == 500000, 'after resume: ' .. vim.inspect(info))
    step(string.format('resumed with tokens=500000: %s, budget %d tokens, %d calls replayed',
      info.status, info.budget.tokens, info.calls_replayed or -1))
  elseif scenario == 'continue' then
    -- Issue 13: an audit that stops its finders early (a small call cap) says how much
    -- it searched; :RefuteContinue covers the rest, run after run, until it is complete.
    local chain = { start_run('RefuteAudit') }
    for i = 1, 5 do
      local current = chain[#chain]
      wait_status(current, 'completed')
      local info = runs_by_id()[current]
      local result = info.result or {}
      step(string.format('run %d %s: %s units covered, %s left, complete=%s, continues %s', i, current,
        tostring(result.covered), tostring(result.not_covered), tostring(result.complete),
        tostring(info.args and info.args.continues)))
      if i == 1 then
        assert(result.complete == false, 'the first audit should be partial: ' .. vim.inspect(result))
      else
        assert(info.args.continues == chain[#chain - 1] and info.args.skip_covered == true,
          'a continuation: ' .. vim.inspect(info.args))
      end
      if result.complete then
        break
      end
      wait_notification(10000, 'the partial-audit notification', ':RefuteContinue ' .. current .. ' covers the')
      table.insert(chain, start_run('RefuteContinue ' .. current))
    end
    local last = runs_by_id()[chain[#chain]]
    assert(#chain >= 2 and last.result.complete == true, 'never complete: ' .. vim.inspect(chain))
    step(string.format('complete after %d continuation(s)', #chain - 1))
    wait_for(20000, 'every finding as a diagnostic', function()
      return #refute.findings() == 3
    end)
    step('findings: ' .. #refute.findings())
  elseif scenario == 'multiroot' then
    -- Two projects in one Neovim: one client per root, each audit goes to its own root's
    -- server and store, and every finding of both is listed.
    local root2 = assert(os.getenv('REFUTE_E2E_ROOT2'))
    vim.cmd.edit(vim.fn.fnameescape(root2 .. '/app.py'))
    local buf2 = vim.api.nvim_get_current_buf()
    local client2
    wait_for(20000, 'a second client for the second root', function()
      client2 = vim.lsp.get_clients({ name = 'refute', bufnr = buf2 })[1]
      return client2 ~= nil and client2.initialized == true
    end)
    assert(client2.id ~= client.id, 'the second root reused the first root\'s client')
    assert(vim.fs.normalize(client2.root_dir) == vim.fs.normalize(root2), 'second root_dir ' .. tostring(client2.root_dir))
    assert(#vim.lsp.get_clients({ name = 'refute' }) == 2, 'clients: ' .. #vim.lsp.get_clients({ name = 'refute' }))
    step('two clients: ' .. client.root_dir .. ' and ' .. client2.root_dir)
    local runs = {}
    for _, b in ipairs({ buf, buf2 }) do
      vim.api.nvim_set_current_buf(b)
      table.insert(runs, start_run('RefuteAudit'))
    end
    for _, id in ipairs(runs) do
      wait_status(id, 'completed')
    end
    for i, r in ipairs({ root, root2 }) do
      local run_dir = r .. '/.refute/state/runs/' .. runs[i]
      assert(vim.fn.isdirectory(run_dir) == 1, 'run ' .. runs[i] .. ' is not in its root\'s store: ' .. run_dir)
    end
    step('each run in its root\'s store: ' .. table.concat(runs, ', '))
    -- :RefuteReport of the first root's run, from the second root's buffer: routed to
    -- the server that ran it.
    refute.last_report_buf = nil
    vim.cmd('RefuteReport ' .. runs[1])
    wait_report(10000, 'the first root\'s report from the second root\'s buffer')
    step('report of the first root\'s run from the second root\'s buffer')
    vim.cmd('only')
    wait_for(20000, 'the findings of both roots', function()
      return #refute.findings() == 6
    end)
    vim.cmd('RefuteFindings')
    local qf = vim.fn.getqflist({ items = 1 })
    local per_root = { 0, 0 }
    for _, item in ipairs(qf.items) do
      local name = vim.api.nvim_buf_get_name(item.bufnr)
      if vim.startswith(name, root2 .. '/') then
        per_root[2] = per_root[2] + 1
      elseif vim.startswith(name, root .. '/') then
        per_root[1] = per_root[1] + 1
      end
    end
    assert(per_root[1] == 3 and per_root[2] == 3, 'quickfix per root: ' .. vim.inspect(per_root))
    step(string.format('quickfix: %d findings of the first root, %d of the second', per_root[1], per_root[2]))
  else
    error('unknown scenario ' .. scenario)
  end
end, debug.traceback)

if not ok then
  fail(tostring(err))
end
step('PASS')
log_file:close()
vim.cmd('qall!')
