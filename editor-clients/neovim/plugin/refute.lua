-- User commands of the refute plugin. The language server starts once
-- require("refute").setup{} has been called (see :help refute).
if vim.g.loaded_refute then
  return
end
vim.g.loaded_refute = true

local function refute()
  return require('refute')
end

local function complete_scope(arg_lead)
  return vim.tbl_filter(function(kind)
    return vim.startswith(kind, arg_lead)
  end, require('refute.scope').kinds)
end

local function complete_run(arg_lead)
  local ids = {}
  for _, run in ipairs(refute().tracker:visible()) do
    if vim.startswith(run.runId, arg_lead) then
      table.insert(ids, run.runId)
    end
  end
  return ids
end

local command = vim.api.nvim_create_user_command

command('RefuteAudit', function(opts)
  refute().audit(opts)
end, { nargs = '?', range = true, complete = complete_scope, desc = 'refute: audit workspace|folder|file|selection' })

command('RefuteSecurity', function(opts)
  refute().security(opts)
end, { nargs = '?', range = true, complete = complete_scope, desc = 'refute: security audit' })

command('RefuteMigrate', function(opts)
  refute().migrate(opts)
end, { nargs = '+', range = true, desc = 'refute: migrate the workspace (or the range) as instructed' })

command('RefuteAsk', function(opts)
  refute().ask(opts)
end, { nargs = '+', desc = 'refute: ask a question about the codebase' })

command('RefuteNewWorkflow', function(opts)
  refute().new_workflow(opts)
end, { nargs = '+', desc = 'refute: write a new workflow script from a description' })

command('RefuteFindings', function(opts)
  refute().findings_list(opts.fargs[1])
end, {
  nargs = '?',
  complete = function()
    return { 'buffer' }
  end,
  desc = 'refute: every finding in the quickfix list (buffer: this buffer in the location list)',
})

command('RefuteEvidence', function()
  refute().evidence()
end, { nargs = 0, desc = 'refute: evidence (verdicts, reasons, fix, cost) of the finding under the cursor' })

command('RefuteRuns', function()
  refute().runs()
end, { nargs = 0, desc = 'refute: pick a run to cancel, resume, report' })

command('RefuteResume', function(opts)
  refute().resume_command(opts.fargs)
end, {
  nargs = '*',
  complete = function(arg_lead)
    local out = complete_run(arg_lead)
    for _, word in ipairs({ 'tokens=', 'usd=' }) do
      if vim.startswith(word, arg_lead) then
        table.insert(out, word)
      end
    end
    return out
  end,
  desc = 'refute: resume [run id] [tokens=N] [usd=X] (a larger budget for a run the budget stopped)',
})

for name, fn in pairs({
  RefuteCancel = 'cancel',
  RefuteContinue = 'continue',
  RefuteApply = 'apply',
  RefuteReport = 'report',
  RefuteSarif = 'export_sarif',
}) do
  command(name, function(opts)
    refute()[fn](opts.fargs[1])
  end, { nargs = '?', complete = complete_run, desc = 'refute: ' .. fn .. ' [run id]' })
end
