-- wrk script: POST /api/v1/store/points/charge of 1,000 won, each request as one of many
-- users (the access tokens in the file TOKENS names, one per line), round-robin.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/api/v1/store/points/charge",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    '{"amount":1000}')
end
