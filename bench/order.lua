-- wrk script: POST /api/v1/store/orders, one product a request, each request as the next
-- user of the access tokens in the file TOKENS names (one a line), round-robin, and under a
-- fresh Idempotency-Key (run tag, wrk thread, counter, a random salt of the thread).
--   TOKENS    file of access tokens (bench/coupon_tokens.py)
--   PRODUCTS  the product ids to spread over: a list and/or ranges, "12-61" or "3,5,9-11";
--             each request takes one at random
--   HOT       a product id: every order on it alone (PRODUCTS is then ignored)
--   QTY       units a line (default 1)
--   RUN       tag in the keys (default: the start time), so two runs never share a key
-- Counts the answers by status and prints them at the end ("status 200: N", ...), since
-- wrk's own "Non-2xx" count does not tell a 202 ORDER_PENDING from a 200 PAID.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local function parse_products(spec)
  local out = {}
  for part in string.gmatch(spec, "[^,%s]+") do
    local a, b = string.match(part, "^(%d+)-(%d+)$")
    if a then
      for p = tonumber(a), tonumber(b) do out[#out + 1] = p end
    else
      out[#out + 1] = tonumber(part)
    end
  end
  return out
end

local hot = os.getenv("HOT")
local products
if hot ~= nil and #hot > 0 then
  products = { tonumber(hot) }
else
  products = parse_products(os.getenv("PRODUCTS") or "1")
end
assert(#products > 0, "order.lua: no product in PRODUCTS/HOT")
local qty = tonumber(os.getenv("QTY") or "1")
local run = os.getenv("RUN") or tostring(os.time())

local bodies = {}
for i, p in ipairs(products) do
  bodies[i] = '{"items":[{"productId":' .. p .. ',"quantity":' .. qty .. '}]}'
end

local threads = {}
local next_id = 0

setup = function(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

init = function()
  counter = 0
  statuses = {}
  math.randomseed(os.time() + id * 7919)
  salt = string.format("%08x", math.random(0, 0x7fffffff))
end

request = function()
  counter = counter + 1
  local token = tokens[((counter + id * 7919) % #tokens) + 1]
  local body = bodies[math.random(1, #bodies)]
  return wrk.format("POST", "/api/v1/store/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "bench-" .. run .. "-" .. id .. "-" .. salt .. "-" .. counter,
  }, body)
end

response = function(status)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function()
  local total = {}
  local sent = 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
    sent = sent + thread:get("counter")
  end
  local keys = {}
  for status in pairs(total) do keys[#keys + 1] = status end
  table.sort(keys)
  for _, status in ipairs(keys) do
    io.write(string.format("status %d: %d\n", status, total[status]))
  end
  io.write(string.format("orders sent: %d over %d products, %d users\n", sent, #products, #tokens))
end
