-- POST /api/v1/auth/login for the e-mails in BENCH_DATA (round robin), counting status codes.
local lines = read_lines(os.getenv("BENCH_DATA"))
local password = os.getenv("BENCH_PASSWORD")
local i = 0

function request()
  i = i % #lines + 1
  local body = string.format('{"email": "%s", "password": "%s"}', lines[i], password)
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  count_status(status)
end
