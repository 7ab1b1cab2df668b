-- wrk script: bill inquiries over the generated line range, current month.
local month = os.getenv("MONTH")
counter = 0
request = function()
  counter = counter + 1
  local line = string.format("0105%07d", counter % 1000000)
  local body = string.format('{"lineNumber":"%s","billingMonth":"%s","requestId":"b%d"}', line, month, counter)
  return wrk.format("POST", "/api/v1/kos/bill/inquiry", {["Content-Type"] = "application/json"}, body)
end
