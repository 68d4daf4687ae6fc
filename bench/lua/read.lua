-- GET BENCH_PATH ("{}" replaced by a data line) with that line as the bearer token, round robin.
local lines = read_lines(os.getenv("BENCH_DATA"))
local template = os.getenv("BENCH_PATH")
local i = 0

function request()
  i = i % #lines + 1
  local path = string.gsub(template, "{}", lines[i])
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. lines[i]})
end
