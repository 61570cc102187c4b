-- wrk: each request as the next of a pool of users, with its session token (bench/wrk_tokens.py
-- writes the pool as `tokens = {...}`).
--
--   wrk -s bench/wrk_users.lua URL -- TOKENS_FILE METHOD PATH [JSON_BODY]
local method, path, body
local i = 0

function init(args)
  dofile(args[1])
  method, path, body = args[2], args[3], args[4]
end

function request()
  i = i + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]}
  if body then
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, path, headers, body)
end
