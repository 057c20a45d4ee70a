-- Unit checks of the Neovim plugin's pure logic (scope building, statusline text, run
-- list parsing). Run by test_neovim.py with `nvim -l`; any failed assert exits non-zero.
local scope = require('refute.scope')
local status = require('refute.status')
local refute = require('refute')

local function eq(actual, expected, what)
  assert(vim.deep_equal(actual, expected), string.format('%s: expected %s, got %s', what, vim.inspect(expected), vim.inspect(actual)))
end

local root = '/home/dev/project'

-- scopes
eq(scope.build({ kind = 'workspace', root = root }), { paths = {} }, 'workspace scope')
eq(scope.build({ kind = 'file', root = root, file = root .. '/src/app.py' }), { paths = { 'src/app.py' } }, 'file scope')
eq(scope.build({ kind = 'folder', root = root, file = root .. '/src/app.py' }), { paths = { 'src' } }, 'folder scope')
eq(scope.build({ kind = 'folder', root = root, file = root .. '/app.py' }), { paths = {} }, 'folder of a top-level file')
eq(
  scope.build({ kind = 'selection', root = root, file = root .. '/a.py', line1 = 9, line2 = 4 }),
  { paths = { 'a.py' }, selection = { 3, 8 } },
  'selection is 0-based, inclusive, ordered'
)
local sc, err = scope.build({ kind = 'file', root = root, file = '/home/dev/project-other/a.py' })
assert(sc == nil and err:find('outside the workspace'), 'a sibling folder is outside: ' .. tostring(err))
sc, err = scope.build({ kind = 'selection', root = root, file = root .. '/a.py' })
assert(sc == nil and err:find('no selection'), 'selection without a range: ' .. tostring(err))
sc, err = scope.build({ kind = 'file', root = root })
assert(sc == nil and err:find('no file'), 'file scope without a file: ' .. tostring(err))
sc, err = scope.build({ kind = 'everything', root = root, file = root .. '/a.py' })
assert(sc == nil and err:find('unknown scope'), 'unknown kind: ' .. tostring(err))

-- workspace root: the nearest marker of any kind wins
local tmp = vim.fn.tempname()
vim.fn.mkdir(tmp .. '/.refute', 'p')
vim.fn.mkdir(tmp .. '/sub/proj/.git', 'p')
eq(refute.root_of(tmp .. '/sub/proj/a.py', { '.refute', '.git' }), tmp .. '/sub/proj', 'nearest marker wins')
eq(refute.root_of(tmp .. '/sub/x.py', { '.refute', '.git' }), tmp, 'an outer .refute when nothing is nearer')
eq(refute.root_of('', { '.git' }), nil, 'no buffer name, no root')
vim.fn.delete(tmp, 'rf')

-- statusline text
eq(status.format_tokens(950), '950', 'tokens < 1k')
eq(status.format_tokens(12345), '12.3k', 'tokens k')
eq(status.format_tokens(2000), '2k', 'tokens round k')
eq(status.format_tokens(4200000), '4.2M', 'tokens M')
eq(status.format_usd(0), '$0', 'zero cost')
eq(status.format_usd(0.0042), '$0.0042', 'sub-cent cost')
eq(status.format_usd(1.234), '$1.23', 'cost')
eq(status.line({}, nil), '', 'idle statusline')
eq(status.line({}, 'refute audit find 40%'), 'refute audit find 40%', 'progress only')
eq(
  status.line({ { runId = 'r', workflow = 'audit', status = 'running', callsDone = 12, tokens = 34500, costUsd = 0.12 } }),
  'refute audit running: 12 calls · 34.5k tok · $0.12',
  'one run'
)
eq(
  status.line({
    { runId = 'a', workflow = 'audit', status = 'running', callsDone = 2, tokens = 1000, costUsd = 0.5 },
    { runId = 'b', workflow = 'ask', status = 'completed', callsDone = 3, tokens = 500, costUsd = 0.25 },
  }),
  'refute 1/2 runs: 5 calls · 1.5k tok · $0.75',
  'two runs'
)
eq(
  status.describe({ workflow = 'audit', status = 'running', phase = 'verify', callsDone = 4, inFlight = 2, callsFailed = 1, tokens = 10, costUsd = 0 }),
  'audit running · verify · 4 calls (2 in flight), 1 failed · 10 tokens · $0',
  'describe'
)

-- the tracker forgets finished runs after keep_ms, counted from when they finished
local tracker = status.new_tracker(1000)
tracker:update({ runId = 'a', workflow = 'audit', status = 'running' }, 0)
tracker:update({ runId = 'b', workflow = 'ask', status = 'running' }, 0)
tracker:update({ runId = 'a', workflow = 'audit', status = 'completed' }, 100)
tracker:update({ runId = 'a', workflow = 'audit', status = 'completed', callsDone = 9 }, 600)
eq(#tracker:visible(1000), 2, 'finished run still visible')
eq(tracker:get('a').callsDone, 9, 'latest update kept')
eq(#tracker:active(1000), 1, 'one active run')
eq(#tracker:visible(1200), 1, 'finished run dropped after keep_ms')

-- run lists from the server
local runs = refute.parse_runs({
  { id = 'old', workflow = 'audit', status = 'completed', created_at = 1, calls_done = 3, cost_usd = 0.5 },
  { id = 'new', workflow = 'ask', status = 'running', created_at = 2 },
  { workflow = 'no id' },
})
eq(vim.tbl_map(function(r) return r.id end, runs), { 'new', 'old' }, 'newest first, id-less skipped')
eq(refute.parse_runs({ runs = { { runId = 'x', workflow = 'w', status = 'queued' } } })[1].id, 'x', 'wrapped list')
eq(refute.parse_runs(vim.NIL), {}, 'nothing')

local function labels(s)
  return vim.tbl_map(function(a) return a.fn end, refute.actions_for(s))
end
eq(labels('running'), { 'cancel', 'pause', 'report' }, 'running actions')
eq(labels('paused'), { 'resume', 'report' }, 'paused actions')
eq(labels('cancelled'), { 'resume', 'report', 'apply', 'export_sarif' }, 'cancelled actions')
eq(labels('completed'), { 'report', 'apply', 'export_sarif' }, 'completed actions')
eq(labels('budget_reached'), { 'resume_with_budget', 'report', 'apply', 'export_sarif' }, 'budget-reached actions')
eq(vim.tbl_map(function(a) return a.fn end, refute.actions_for('completed', true)),
  { 'continue', 'report', 'apply', 'export_sarif' }, 'a partial audit offers to continue')
assert(status.is_finished('budget_reached'), 'a budget-reached run has ended')

-- coverage records and budgets in the run list
local partial, whole = unpack(refute.parse_runs({
  { id = 'p', workflow = 'audit', status = 'completed', created_at = 2, budget = { tokens = 1500, usd = vim.NIL },
    result = { covered = 2, not_covered = 1, complete = false } },
  { id = 'w', workflow = 'audit', status = 'completed', created_at = 1, result = { covered = 3, not_covered = 0, complete = true } },
}))
eq(partial.coverage, { covered = 2, not_covered = 1, complete = false }, 'coverage record')
eq({ partial.budget_tokens, partial.budget_usd }, { 1500, nil }, 'budget limits')
assert(refute.is_partial(partial) and not refute.is_partial(whole), 'partial vs complete')
assert(not refute.is_partial({ status = 'budget_reached', coverage = { complete = false } }), 'budget-reached is resumed, not continued')
assert(not refute.is_partial({ status = 'running', coverage = { complete = false } }), 'a running audit is not partial yet')

-- :RefuteResume [run] [tokens=N] [usd=X]
local function resume_args(...)
  return { refute.parse_resume_args({ ... }) }
end
eq(resume_args(), {}, 'no arguments: the newest run, same budget')
eq(resume_args('r1'), { 'r1' }, 'a run id')
eq(resume_args('r1', 'tokens=200000', 'usd=2.5'), { 'r1', { budgetTokens = 200000, budgetUsd = 2.5 } }, 'run and budget')
eq(resume_args('usd=$3'), { nil, { budgetUsd = 3 } }, 'budget only, dollar sign allowed')
eq(resume_args('TOKENS=1_000'), { nil, { budgetTokens = 1000 } }, 'underscores and case')
assert(resume_args('tokens=1.5')[3]:find('whole number'), 'fractional tokens refused')
assert(resume_args('usd=0')[3]:find('above 0'), 'zero usd refused')
assert(resume_args('calls=3')[3]:find('not tokens=N or usd=X'), 'unknown key refused')
assert(resume_args('r1', 'r2')[3]:find('one run at a time'), 'two runs refused')

assert(refute.is_report_uri('file:///w/.refute/reports/20261121-1.md'), 'report uri')
assert(not refute.is_report_uri('file:///w/.refute/reports/r.sarif'), 'sarif is not a markdown report')
assert(not refute.is_report_uri('file:///w/docs/readme.md'), 'other markdown is not a report')

-- commands exist once the plugin file is sourced, and fail clearly before setup
vim.cmd('runtime plugin/refute.lua')
for _, name in ipairs({ 'RefuteAudit', 'RefuteSecurity', 'RefuteMigrate', 'RefuteAsk', 'RefuteRuns', 'RefuteCancel', 'RefuteApply', 'RefuteReport' }) do
  assert(vim.fn.exists(':' .. name) == 2, name .. ' is not defined')
end
local messages = {}
vim.notify = function(msg)
  table.insert(messages, msg)
end
vim.cmd('RefuteAudit file')
assert(messages[1] and messages[1]:find('setup'), 'before setup: ' .. vim.inspect(messages))

print('lua units: ok')
