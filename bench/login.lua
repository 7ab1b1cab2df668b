-- wrk script: logins rotating over load users load00001..load0NNNN (USERS, default 1000).
local users = tonumber(os.getenv("USERS") or "1000")
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"userId":"load%05d","password":"Passw0rd!"}', counter % users + 1)
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end
