-- :checkhealth refute
local M = {}

local function start_server(cmd, root, settings)
  local exited, stderr = false, {}
  local ok, rpc = pcall(vim.lsp.rpc.start, cmd, {
    notification = function() end,
    server_request = function(method)
      if method == 'workspace/configuration' then
        return { settings }, nil
      end
      return vim.NIL, nil
    end,
    on_exit = function()
      exited = true
    end,
    on_error = function(code, err)
      table.insert(stderr, tostring(code) .. ' ' .. vim.inspect(err))
    end,
  }, { cwd = root })
  if not ok then
    return false, tostring(rpc)
  end
  local done, result, req_err = false, nil, nil
  rpc.request('initialize', {
    processId = vim.fn.getpid(),
    rootUri = vim.uri_from_fname(root),
    workspaceFolders = { { uri = vim.uri_from_fname(root), name = vim.fs.basename(root) } },
    capabilities = vim.lsp.protocol.make_client_capabilities(),
    initializationOptions = next(settings) and settings or vim.empty_dict(),
  }, function(err, res)
    done, req_err, result = true, err, res
  end)
  vim.wait(15000, function()
    return done or exited
  end, 50)
  local info
  if done and not req_err then
    local server = result and result.serverInfo or {}
    info = string.format('%s %s', server.name or '?', server.version or '')
    rpc.request('shutdown', nil, function()
      rpc.notify('exit')
    end)
    vim.wait(3000, function()
      return exited
    end, 50)
  end
  if not rpc.is_closing() then
    rpc.terminate()
  end
  if info then
    return true, info
  end
  if req_err then
    return false, 'initialize failed: ' .. vim.inspect(req_err)
  end
  return false, exited and ('the server exited during initialize ' .. table.concat(stderr, '; ')) or 'no answer to initialize within 15 s'
end

function M.check()
  vim.health.start('refute')
  if vim.fn.has('nvim-0.11') == 1 then
    vim.health.ok('Neovim ' .. tostring(vim.version()))
  else
    vim.health.error('Neovim ' .. tostring(vim.version()) .. ' is too old: refute needs 0.11 or newer (vim.lsp.config)')
    return
  end
  local refute = require('refute')
  if not refute.configured then
    vim.health.warn('require("refute").setup{} has not been called; checking the default command')
  end
  local cmd = refute.config.cmd
  local exe = cmd[1]
  if vim.fn.executable(exe) == 1 then
    vim.health.ok(string.format('server executable: %s (%s)', exe, vim.fn.exepath(exe)))
  else
    vim.health.error(string.format('server executable %q not found', exe), {
      'pip install refute, or pass cmd = { "/path/to/refute", "lsp" } to require("refute").setup',
    })
    return
  end
  local clients = vim.lsp.get_clients({ name = refute.name })
  if #clients > 0 then
    vim.health.ok(string.format('server running (client %d, root %s)', clients[1].id, clients[1].root_dir or '?'))
  end
  local ok, detail = start_server(cmd, vim.fn.getcwd(), refute.config.settings or {})
  if ok then
    vim.health.ok('server starts and answers initialize: ' .. detail)
  else
    vim.health.error('server does not start: ' .. detail, { 'run ' .. table.concat(cmd, ' ') .. ' in a terminal to see its error' })
  end
end

return M
