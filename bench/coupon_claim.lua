-- wrk script: POST /api/v1/store/coupons {couponCode: CODE}, each request as the next user
-- of the access tokens in the file TOKENS names (one a line), so with one thread no user
-- claims twice until the tokens run out; counts the answers by status (run with -t1). With
-- ONCE=1 the thread stops sending once every user has been answered (wrk itself still
-- waits out -d, so its rate is not the claims' rate: time them from their rows).
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local body = '{"couponCode":"' .. os.getenv("CODE") .. '"}'
local once = os.getenv("ONCE") == "1"
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function()
  counter = 0
  answered = 0
  statuses = {}
end

request = function()
  counter = counter + 1
  local token = tokens[((counter - 1) % #tokens) + 1]
  return wrk.format("POST", "/api/v1/store/coupons",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

response = function(status)
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  if once and answered >= #tokens then
    wrk.thread:stop()
  end
end

done = function()
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, n in pairs(s) do
      io.write(string.format("status %d: %d\n", status, n))
    end
    io.write(string.format("users used: %d of %d tokens\n", math.min(thread:get("counter"), #tokens), #tokens))
  end
end
