-- wrk script: POST /api/v1/bills/inquiry with a bearer token.
--   MODE=hit   the same line and month every time (served from the memory tier)
--   MODE=miss  a new line of the generated range every time (one KOS call each; ADMIN token)
local token = os.getenv("TOKEN")
local mode = os.getenv("MODE") or "hit"
local line = os.getenv("LINE") or "01012345001"
local start = tonumber(os.getenv("START") or "0")
counter = 0
request = function()
  counter = counter + 1
  local target = line
  if mode == "miss" then
    target = string.format("0105%07d", start + counter)
  end
  local body = string.format('{"lineNumber":"%s"}', target)
  return wrk.format("POST", "/api/v1/bills/inquiry",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
