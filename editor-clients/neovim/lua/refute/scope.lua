-- Builds the server's run scope ({paths, selection?}) from buffer state. Pure: takes
-- paths and line numbers, so it is tested without a running server.
local M = {}

--- Workspace-relative POSIX path of `abs` below `root`, or nil and an error message.
---@param root string
---@param abs string
---@return string|nil, string|nil
function M.relative(root, abs)
  local nroot = vim.fs.normalize(vim.fn.fnamemodify(root, ':p')):gsub('/$', '')
  local nabs = vim.fs.normalize(vim.fn.fnamemodify(abs, ':p')):gsub('/$', '')
  if nabs == nroot then
    return ''
  end
  if nabs:sub(1, #nroot + 1) ~= nroot .. '/' then
    return nil, string.format('%s is outside the workspace folder %s', abs, root)
  end
  return nabs:sub(#nroot + 2)
end

M.kinds = { 'workspace', 'folder', 'file', 'selection' }

--- @class refute.ScopeInput
--- @field kind 'workspace'|'folder'|'file'|'selection'
--- @field root string absolute workspace folder
--- @field file? string absolute path of the current buffer's file
--- @field line1? integer 1-based first line of a range (selection)
--- @field line2? integer 1-based last line of a range (selection)

--- The scope table for `refute.run`, or nil and an error message.
---@param input refute.ScopeInput
---@return table|nil, string|nil
function M.build(input)
  local kind = input.kind
  if kind == 'workspace' then
    return { paths = {} }
  end
  if not input.file or input.file == '' then
    return nil, 'no file: open a file in a buffer first'
  end
  if kind == 'folder' then
    local rel, err = M.relative(input.root, vim.fs.dirname(input.file))
    if not rel then
      return nil, err
    end
    return { paths = rel == '' and {} or { rel } }
  end
  local rel, err = M.relative(input.root, input.file)
  if not rel then
    return nil, err
  end
  if kind == 'file' then
    return { paths = { rel } }
  end
  if kind == 'selection' then
    if not input.line1 or not input.line2 then
      return nil, 'no selection: give a range, e.g. :\'<,\'>RefuteAudit'
    end
    local first, last = math.min(input.line1, input.line2), math.max(input.line1, input.line2)
    -- The server's selection is 0-based and inclusive.
    return { paths = { rel }, selection = { first - 1, last - 1 } }
  end
  return nil, string.format('unknown scope %q (use workspace, folder, file or selection)', tostring(kind))
end

return M
