-- refute for Neovim >= 0.11: starts the refute language server with vim.lsp.config /
-- vim.lsp.enable, and turns user commands into the server's workspace commands
-- (ARCHITECTURE.md, "server"). Findings arrive as diagnostics; fixes and dismissals are
-- the server's code actions (vim.lsp.buf.code_action).
local scope = require('refute.scope')
local status = require('refute.status')

local M = {}

M.name = 'refute'

local defaults = {
  -- How to start the server.
  cmd = { 'refute', 'lsp' },
  -- Server settings (camelCase, as in the VS Code settings without the "refute." prefix
  -- flattened: provider, scriptedFixture, modelFinder, budgetTokens, maxConcurrency, ...).
  settings = {},
  -- The workspace folder is the nearest ancestor with one of these, else the cwd.
  root_markers = { '.refute', '.git' },
  -- Finished runs stay in the statusline this long.
  keep_finished_ms = 10000,
  on_attach = nil,
}

M.config = vim.deepcopy(defaults)
M.tracker = status.new_tracker(defaults.keep_finished_ms)
M.configured = false

local progress_message = nil ---@type string|nil
local report_when_done = {} ---@type table<string, boolean>
local announced = {} ---@type table<string, boolean> runs whose end was already announced
-- Run id -> id of the client (one per workspace root) whose server reported it, so a
-- command on a run goes to that run's server whichever buffer is current.
local run_clients = {} ---@type table<string, integer>

local function notify(msg, level)
  vim.notify('refute: ' .. msg, level or vim.log.levels.INFO)
end

--- An empty table that encodes as a JSON object, not an array.
local function object(t)
  if t == nil or next(t) == nil then
    return vim.empty_dict()
  end
  return t
end

local announce_end -- defined below, with the commands it points to

local function on_run_update(_, update, ctx)
  if type(update) ~= 'table' or not update.runId then
    return
  end
  if ctx and ctx.client_id then
    run_clients[update.runId] = ctx.client_id
  end
  M.tracker:update(update)
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'RefuteRunUpdate', data = update, modeline = false })
  vim.cmd.redrawstatus({ bang = true })
  if status.is_finished(update.status) then
    if report_when_done[update.runId] then
      report_when_done[update.runId] = nil
      M.report(update.runId)
    end
    if not announced[update.runId] then
      announced[update.runId] = true
      announce_end(update)
    end
  end
end

--- True for a markdown report the server wrote under .refute/reports/.
function M.is_report_uri(uri)
  return type(uri) == 'string' and uri:match('/%.refute/reports/[^/]+%.md$') ~= nil
end

-- The server also asks to show each report it writes; the plugin shows reports in a
-- scratch buffer itself (M.report), so those are acknowledged rather than opened twice.
local function on_show_document(err, params, ctx, config)
  if params and M.is_report_uri(params.uri) then
    return { success = true }
  end
  return vim.lsp.handlers['window/showDocument'](err, params, ctx, config)
end

local function on_progress(ev)
  local client = vim.lsp.get_client_by_id(ev.data.client_id)
  if not client or client.name ~= M.name then
    return
  end
  local value = ev.data.params and ev.data.params.value or {}
  if value.kind == 'end' then
    progress_message = nil
  else
    local parts = { value.title, value.message }
    if value.percentage then
      table.insert(parts, value.percentage .. '%')
    end
    progress_message = 'refute ' .. table.concat(vim.tbl_filter(function(p)
      return p ~= nil and p ~= ''
    end, parts), ' ')
  end
  vim.cmd.redrawstatus({ bang = true })
end

--- The nearest ancestor of `path` holding any of `markers` (equal priority: a stray
--- `.refute` further up must not win over the project's own `.git`), else nil.
function M.root_of(path, markers)
  if path == '' then
    return nil
  end
  return vim.fs.root(path, { markers })
end

local function find_root(bufnr)
  return M.root_of(vim.api.nvim_buf_get_name(bufnr), M.config.root_markers) or vim.fn.getcwd()
end

--- Configures and enables the language server. Call once from your config.
---@param opts? table { cmd?: string[], settings?: table, root_markers?: string[], keep_finished_ms?: integer, on_attach?: function }
function M.setup(opts)
  opts = opts or {}
  vim.validate('cmd', opts.cmd, 'table', true)
  vim.validate('settings', opts.settings, 'table', true)
  -- A shallow merge: a user's cmd or settings replaces the default whole (a deep merge
  -- would splice list items, e.g. keep "lsp" after a different executable).
  M.config = vim.tbl_extend('force', vim.deepcopy(defaults), opts)
  M.tracker = status.new_tracker(M.config.keep_finished_ms)
  vim.lsp.config(M.name, {
    cmd = M.config.cmd,
    root_dir = function(bufnr, on_dir)
      on_dir(find_root(bufnr))
    end,
    -- Served to workspace/configuration (section "refute") and sent at initialize.
    settings = { refute = object(vim.deepcopy(M.config.settings)) },
    init_options = object(vim.deepcopy(M.config.settings)),
    handlers = {
      ['refute/runUpdate'] = on_run_update,
      ['window/showDocument'] = on_show_document,
    },
    on_attach = M.config.on_attach,
  })
  vim.lsp.enable(M.name)
  local group = vim.api.nvim_create_augroup('refute', { clear = true })
  vim.api.nvim_create_autocmd('LspProgress', { group = group, callback = on_progress })
  M.configured = true
end

--- The running refute client for the current buffer (or any), or nil and a message.
function M.client()
  if not M.configured then
    return nil, 'not set up: call require("refute").setup{} in your config'
  end
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = 0 })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = M.name })
  end
  if #clients == 0 then
    return nil, 'the language server is not running: open a file of the workspace, or see :checkhealth refute'
  end
  return clients[1]
end

local function client_root(client)
  if client.root_dir then
    return client.root_dir
  end
  local folders = client.workspace_folders or {}
  if folders[1] then
    return vim.uri_to_fname(folders[1].uri)
  end
  return vim.fn.getcwd()
end

--- A path the server returned, absolute: a relative one is under the current client's
--- workspace root.
local function workspace_path(path)
  local client = M.client()
  if client and not vim.startswith(path, '/') then
    return vim.fs.joinpath(client_root(client), path)
  end
  return path
end

--- The client of the server that reported `run_id` (roots have a server each), else
--- the current buffer's.
function M.run_client(run_id)
  local id = run_id and run_clients[run_id]
  local client = id and vim.lsp.get_client_by_id(id)
  if client and not client:is_stopped() then
    return client
  end
  return M.client()
end

--- Sends `workspace/executeCommand` and calls `on_result(result)` on success; errors
--- are shown, never raised into the caller's callback. `client`: which server (default:
--- the current buffer's).
---@param command string
---@param argument table
---@param on_result? fun(result: any)
---@param client? vim.lsp.Client
function M.execute(command, argument, on_result, client)
  local err
  if not client then
    client, err = M.client()
  end
  if not client then
    notify(err, vim.log.levels.ERROR)
    return false
  end
  local params = { command = command, arguments = { object(argument) } }
  return client:request('workspace/executeCommand', params, function(rpc_err, result)
    if rpc_err then
      notify(string.format('%s failed: %s', command, rpc_err.message or vim.inspect(rpc_err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result)
    end
  end, 0)
end

--- Records a run the server just started: which client's server runs it, and a queued
--- entry in the statusline unless the server's run updates overtook this answer (they
--- are never overwritten).
local function track_started(run_id, client, workflow)
  run_clients[run_id] = client and client.id or nil
  if not M.tracker:get(run_id) then
    M.tracker:update({ runId = run_id, workflow = workflow, status = 'queued' })
  end
end

--- Starts a workflow run over a scope.
---@param workflow string
---@param scope_input { kind: string, line1?: integer, line2?: integer }
---@param args? table workflow arguments
---@param on_started? fun(run_id: string)
function M.start(workflow, scope_input, args, on_started)
  local client, err = M.client()
  if not client then
    notify(err, vim.log.levels.ERROR)
    return
  end
  local file = vim.api.nvim_buf_get_name(0)
  local sc, scope_err = scope.build({
    kind = scope_input.kind,
    root = client_root(client),
    file = file ~= '' and file or nil,
    line1 = scope_input.line1,
    line2 = scope_input.line2,
  })
  if not sc then
    notify(scope_err, vim.log.levels.WARN)
    return
  end
  local payload = { workflow = workflow, scope = sc }
  if args then
    payload.args = args
  end
  M.execute('refute.run', payload, function(result)
    result = result or {}
    if result.declined then
      notify(string.format('the %s run was not started', workflow))
      return
    end
    if not result.runId then
      notify('refute.run returned no run id: ' .. vim.inspect(result), vim.log.levels.ERROR)
      return
    end
    track_started(result.runId, client, workflow)
    notify(string.format('%s run %s started', workflow, result.runId))
    if on_started then
      on_started(result.runId)
    end
  end, client)
end

--- Scope from a user command: an explicit kind, or "selection" when a range was given.
local function scope_from_command(opts)
  local kind = opts.fargs and opts.fargs[1]
  if not kind or kind == '' then
    kind = (opts.range or 0) > 0 and 'selection' or 'workspace'
  end
  return { kind = kind, line1 = (opts.range or 0) > 0 and opts.line1 or nil, line2 = (opts.range or 0) > 0 and opts.line2 or nil }
end

function M.audit(opts)
  M.start('audit', scope_from_command(opts or {}))
end

function M.security(opts)
  M.start('security', scope_from_command(opts or {}))
end

--- A user command that needs its text (`what`, e.g. "the question"): warns when it is
--- empty, else calls `fn(text, opts)` with the trimmed text.
local function with_text(what, fn)
  return function(opts)
    local text = vim.trim(opts.args or '')
    if text == '' then
      notify(what .. ' is empty', vim.log.levels.WARN)
      return
    end
    fn(text, opts)
  end
end

M.migrate = with_text('the migration instruction', function(instruction, opts)
  local sc = (opts.range or 0) > 0 and { kind = 'selection', line1 = opts.line1, line2 = opts.line2 } or { kind = 'workspace' }
  M.start('migrate', sc, { instruction = instruction }, function(run_id)
    notify(string.format('migration %s runs in the background; :RefuteApply %s when it is done', run_id, run_id))
  end)
end)

M.ask = with_text('the question', function(question)
  M.start('ask', { kind = 'workspace' }, { question = question }, function(run_id)
    report_when_done[run_id] = true
    -- The run may already have finished before its id came back.
    local known = M.tracker:get(run_id)
    if known and status.is_finished(known.status) and report_when_done[run_id] then
      report_when_done[run_id] = nil
      M.report(run_id)
    end
  end)
end)

M.new_workflow = with_text('the workflow description', function(request)
  M.execute('refute.newWorkflow', { request = request }, function(result)
    if result and result.path then
      vim.cmd.edit(vim.fn.fnameescape(workspace_path(result.path)))
    end
  end)
end)

--- Normalises the server's run list (RunInfo dicts, bare or in {runs = ...}) to the
--- newest first. `coverage` is the coverage record of an audit ({covered, not_covered,
--- complete}), when the workflow keeps one.
function M.parse_runs(result)
  local list = result
  if type(result) == 'table' and type(result.runs) == 'table' then
    list = result.runs
  end
  local runs = {}
  for _, r in ipairs(type(list) == 'table' and list or {}) do
    if type(r) == 'table' and (r.id or r.runId) then
      local res = type(r.result) == 'table' and r.result or {}
      local budget = type(r.budget) == 'table' and r.budget or {}
      table.insert(runs, {
        id = r.id or r.runId,
        workflow = r.workflow or '?',
        status = r.status or '?',
        created_at = r.created_at or r.createdAt or 0,
        calls_done = r.calls_done or r.callsDone or 0,
        cost_usd = r.cost_usd or r.costUsd or 0,
        budget_tokens = type(budget.tokens) == 'number' and budget.tokens or nil,
        budget_usd = type(budget.usd) == 'number' and budget.usd or nil,
        coverage = type(res.complete) == 'boolean'
            and { covered = res.covered or 0, not_covered = res.not_covered or 0, complete = res.complete }
          or nil,
      })
    end
  end
  table.sort(runs, function(a, b)
    return a.created_at > b.created_at
  end)
  return runs
end

--- A finished run that left part of its scope unsearched (:RefuteContinue covers the rest).
function M.is_partial(run)
  return status.is_finished(run.status) and run.status ~= 'budget_reached' and run.coverage ~= nil
    and run.coverage.complete == false
end

--- The arguments of :RefuteResume: an optional run id and tokens=N / usd=X (a larger
--- budget for a run the budget stopped). Returns run_id (or nil), budget (or nil), and
--- an error message for anything else.
---@param fargs string[]
function M.parse_resume_args(fargs)
  local run_id, budget
  for _, word in ipairs(fargs or {}) do
    local key, value = word:match('^(%a+)=(.+)$')
    if key then
      key = key:lower()
      local n = tonumber((value:gsub('^%$', ''):gsub('_', '')))
      if key == 'tokens' then
        if not n or n <= 0 or n ~= math.floor(n) then
          return nil, nil, 'tokens must be a whole number above 0, not ' .. value
        end
        budget = budget or {}
        budget.budgetTokens = n
      elseif key == 'usd' then
        if not n or n <= 0 then
          return nil, nil, 'usd must be a number above 0, not ' .. value
        end
        budget = budget or {}
        budget.budgetUsd = n
      else
        return nil, nil, string.format('"%s" is not tokens=N or usd=X', word)
      end
    elseif run_id then
      return nil, nil, string.format('one run at a time: "%s" and "%s"', run_id, word)
    else
      run_id = word
    end
  end
  return run_id, budget, nil
end

--- Calls `fn(run_id, client)` with the given id, else the newest run (the newest
--- unfinished one when `active_only`), asking the server when this session hasn't seen
--- one. `client` is the server that reported the run (each workspace root has its own).
local function with_run(run_id, active_only, fn)
  if run_id and run_id ~= '' then
    return fn(run_id, M.run_client(run_id))
  end
  local seen = active_only and M.tracker:active() or M.tracker:visible()
  if #seen > 0 then
    local id = seen[#seen].runId
    return fn(id, M.run_client(id))
  end
  local client = M.client()
  M.execute('refute.runs', {}, function(result)
    for _, r in ipairs(M.parse_runs(result)) do
      if not active_only or not status.is_finished(r.status) then
        return fn(r.id, client)
      end
    end
    notify(active_only and 'no run is in progress' or 'no runs yet', vim.log.levels.WARN)
  end, client)
end

--- Sends `command` ({runId}) for the given or newest active run, then tells `done .. id`.
local function command_on_active_run(run_id, command, done)
  with_run(run_id, true, function(id, client)
    M.execute(command, { runId = id }, function()
      notify(done .. id)
    end, client)
  end)
end

function M.cancel(run_id)
  command_on_active_run(run_id, 'refute.cancel', 'cancel sent to run ')
end

--- Resumes a run; `budget` ({budgetTokens?, budgetUsd?}) raises the budget of a run the
--- budget stopped, like `refute resume RUN --budget-tokens N --budget-usd X` (finished
--- calls replay from the journal: nothing is paid twice).
function M.resume(run_id, budget)
  with_run(run_id, false, function(id, client)
    local argument = vim.tbl_extend('force', { runId = id }, budget or {})
    M.execute('refute.resume', argument, function()
      announced[id] = nil -- its next end is news again
      local raised = {}
      if budget and budget.budgetTokens then
        table.insert(raised, 'tokens=' .. budget.budgetTokens)
      end
      if budget and budget.budgetUsd then
        table.insert(raised, 'usd=' .. budget.budgetUsd)
      end
      notify('resumed run ' .. id .. (#raised > 0 and (' with ' .. table.concat(raised, ' ')) or ''))
    end, client)
  end)
end

--- :RefuteResume [run] [tokens=N] [usd=X]
function M.resume_command(fargs)
  local run_id, budget, err = M.parse_resume_args(fargs)
  if err then
    notify(err, vim.log.levels.ERROR)
    return
  end
  M.resume(run_id, budget)
end

--- "Continue audit": a new run of the same workflow, scope and arguments that covers
--- what `run_id` (default: the newest run) left, skipping units already searched at the
--- same content.
function M.continue(run_id)
  with_run(run_id, false, function(id, client)
    M.execute('refute.run', { continueRun = id }, function(result)
      result = result or {}
      if result.declined or not result.runId then
        notify('the continuation of ' .. id .. ' was not started', vim.log.levels.WARN)
        return
      end
      track_started(result.runId, client, (M.tracker:get(id) or {}).workflow or 'continued')
      notify(string.format('continuing run %s as run %s', id, result.runId))
    end, client)
  end)
end

function M.pause(run_id)
  command_on_active_run(run_id, 'refute.pause', 'paused run ')
end

function M.apply(run_id)
  with_run(run_id, false, function(id, client)
    M.execute('refute.applyEdits', { runId = id }, function(result)
      result = result or {}
      local applied = type(result.applied) == 'table' and #result.applied or 0
      local refused = type(result.refused) == 'table' and result.refused or {}
      if #refused > 0 then
        notify(string.format('applied %d edit(s), refused %d: %s', applied, #refused, vim.inspect(refused)), vim.log.levels.WARN)
      else
        notify(string.format('applied %d edit(s)', applied))
      end
      vim.cmd.checktime()
    end, client)
  end)
end

function M.export_sarif(run_id)
  local arg = (run_id and run_id ~= '') and { runId = run_id } or {}
  M.execute('refute.exportSarif', arg, function(result)
    notify('SARIF written to ' .. tostring(result and result.path))
  end, M.run_client(run_id))
end

--- Shows a run's markdown report in a scratch buffer (buffer number in M.last_report_buf).
function M.report(run_id)
  with_run(run_id, false, function(id, client)
    M.execute('refute.report', { runId = id, format = 'md' }, function(result)
      local content = type(result) == 'table' and result.content or nil
      if type(content) ~= 'string' then
        content = vim.inspect(result)
      end
      vim.cmd('botright new')
      local buf = vim.api.nvim_get_current_buf()
      vim.bo[buf].buftype = 'nofile'
      vim.bo[buf].bufhidden = 'wipe'
      vim.bo[buf].swapfile = false
      pcall(vim.api.nvim_buf_set_name, buf, 'refute://report/' .. id)
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(content, '\n', { plain = true }))
      vim.bo[buf].modifiable = false
      vim.bo[buf].filetype = 'markdown'
      M.last_report_buf = buf
    end, client)
  end)
end

--- Asks for a larger budget (vim.ui.input, "tokens=N usd=X"), then resumes the run.
function M.resume_with_budget(run_id)
  vim.ui.input({ prompt = 'refute: larger budget for ' .. run_id .. ' (tokens=N usd=X): ' }, function(text)
    if not text or vim.trim(text) == '' then
      return
    end
    local words = vim.split(vim.trim(text), '[%s,]+')
    local extra, budget, err = M.parse_resume_args(words)
    if err or extra or not budget then
      notify(err or 'give a larger budget: tokens=N, usd=X or both', vim.log.levels.ERROR)
      return
    end
    M.resume(run_id, budget)
  end)
end

local ACTIONS = {
  { label = 'Cancel', fn = 'cancel', when = 'active' },
  { label = 'Pause', fn = 'pause', when = 'active' },
  { label = 'Resume', fn = 'resume', when = 'resumable' },
  { label = 'Resume with a larger budget', fn = 'resume_with_budget', when = 'budget_reached' },
  { label = 'Continue audit (cover what it left)', fn = 'continue', when = 'partial' },
  { label = 'Show report', fn = 'report', when = 'any' },
  { label = 'Apply proposed edits', fn = 'apply', when = 'finished' },
  { label = 'Export SARIF', fn = 'export_sarif', when = 'finished' },
}

--- Actions offered for a run in this status (`partial`: it left part of its scope).
function M.actions_for(run_status, partial)
  local finished = status.is_finished(run_status)
  local out = {}
  for _, a in ipairs(ACTIONS) do
    local ok = a.when == 'any'
      or (a.when == 'active' and not finished and run_status ~= 'paused')
      or (a.when == 'finished' and finished)
      or (a.when == 'resumable' and (run_status == 'paused' or run_status == 'cancelled' or run_status == 'failed'))
      or (a.when == 'budget_reached' and run_status == 'budget_reached')
      or (a.when == 'partial' and partial == true)
    if ok then
      table.insert(out, a)
    end
  end
  return out
end

--- Picks a run with vim.ui.select, then what to do with it.
function M.runs()
  local client = M.client()
  M.execute('refute.runs', {}, function(result)
    local runs = M.parse_runs(result)
    if #runs == 0 then
      notify('no runs yet')
      return
    end
    vim.ui.select(runs, {
      prompt = 'refute runs',
      format_item = function(r)
        return string.format('%s  %s  %s  %d calls  %s', r.id, r.workflow, r.status, r.calls_done, status.format_usd(r.cost_usd))
      end,
    }, function(run)
      if not run then
        return
      end
      if client then
        run_clients[run.id] = run_clients[run.id] or client.id
      end
      vim.ui.select(M.actions_for(run.status, M.is_partial(run)), {
        prompt = run.workflow .. ' ' .. run.id,
        format_item = function(a)
          return a.label
        end,
      }, function(action)
        if action then
          M[action.fn](run.id)
        end
      end)
    end)
  end, client)
end

--- How a run's end is told: failures loudly; a run the budget stopped with the command
--- that continues it with a larger budget; an audit that left part of its scope with the
--- command that covers the rest.
announce_end = function(update)
  local id = update.runId
  if update.status == 'failed' or update.status == 'completed with failures' then
    notify(status.describe(update), vim.log.levels.WARN)
  elseif update.status == 'budget_reached' then
    notify(string.format('%s: the budget stopped it (finished calls are kept); ' ..
      ':RefuteResume %s tokens=N usd=X continues it with a larger budget', status.describe(update), id),
      vim.log.levels.WARN)
  elseif update.status == 'completed' then
    local client = M.run_client(id)
    if not client then
      return
    end
    M.execute('refute.runs', {}, function(result)
      for _, run in ipairs(M.parse_runs(result)) do
        if run.id == id and M.is_partial(run) then
          local total = run.coverage.covered + run.coverage.not_covered
          notify(string.format('%s %s searched %d of %d units; :RefuteContinue %s covers the %d left',
            run.workflow, id, run.coverage.covered, total, id, run.coverage.not_covered))
        end
      end
    end, client)
  end
end

--- refute's diagnostics (findings) of one buffer, or of every buffer when `bufnr` is nil.
--- Files never opened are included: the server pushes diagnostics for every file with
--- findings and Neovim keeps them on unloaded buffers.
function M.findings(bufnr)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.source == M.name then
      table.insert(out, d)
    end
  end
  table.sort(out, function(a, b)
    local fa, fb = vim.api.nvim_buf_get_name(a.bufnr), vim.api.nvim_buf_get_name(b.bufnr)
    if fa ~= fb then
      return fa < fb
    end
    return a.lnum < b.lnum
  end)
  return out
end

--- :RefuteFindings fills the quickfix list with every finding of the workspace;
--- :RefuteFindings buffer fills the current window's location list with this buffer's.
function M.findings_list(where)
  local per_buffer = where == 'buffer'
  local bufnr = per_buffer and vim.api.nvim_get_current_buf() or nil
  local items = vim.diagnostic.toqflist(M.findings(bufnr))
  local title = per_buffer and ('refute findings: ' .. vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':.'))
    or 'refute findings'
  if per_buffer then
    vim.fn.setloclist(0, {}, ' ', { title = title, items = items })
  else
    vim.fn.setqflist({}, ' ', { title = title, items = items })
  end
  if #items == 0 then
    notify(per_buffer and 'no findings in this buffer' or 'no findings yet', vim.log.levels.INFO)
    return items
  end
  vim.cmd(per_buffer and 'lopen' or 'copen')
  return items
end

--- The refute diagnostic under the cursor (the narrowest one), or nil.
function M.finding_at_cursor()
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local best
  for _, d in ipairs(M.findings(0)) do
    local end_lnum = d.end_lnum or d.lnum
    local end_col = d.end_col or d.col
    local after_start = row - 1 > d.lnum or (row - 1 == d.lnum and col >= d.col)
    local before_end = row - 1 < end_lnum or (row - 1 == end_lnum and col <= end_col)
    if row - 1 == d.lnum and end_lnum == d.lnum and not (after_start and before_end) then
      after_start, before_end = true, true -- on the finding's line: good enough
    end
    if after_start and before_end then
      local size = (end_lnum - d.lnum) * 10000 + (end_col - d.col)
      if not best or size < best.size then
        best = { diag = d, size = size }
      end
    end
  end
  return best and best.diag or nil
end

--- :RefuteEvidence: the evidence page (quote, every verdict and reason, fix, cost,
--- provenance) of the finding under the cursor; the server writes it and asks Neovim
--- to show it (window/showDocument).
function M.evidence()
  local d = M.finding_at_cursor()
  local data = d and d.user_data and d.user_data.lsp and d.user_data.lsp.data
  if not data or not data.fingerprint then
    notify('no refute finding under the cursor (:RefuteFindings lists them)', vim.log.levels.WARN)
    return
  end
  M.execute('refute.showEvidence', { fingerprint = data.fingerprint }, function(result)
    if result and not result.shown and result.path then
      vim.cmd.split(vim.fn.fnameescape(workspace_path(result.path)))
    end
    M.last_evidence = data.title or data.fingerprint
  end)
end

--- For 'statusline': the live runs (calls, tokens, cost) or the latest progress message.
function M.statusline()
  return status.line(M.tracker:visible(), progress_message)
end

return M
