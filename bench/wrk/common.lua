-- Shared by the bench/wrk/*.lua scripts (loaded with dofile; not a scenario).
--
-- Builds an EC2 Query API request shaped like the ones the aws CLI sends:
-- POST / with a form-urlencoded body and a SigV4 Authorization header.
-- The signature is a fixed 64-hex-digit string: Fogbank parses but does not
-- verify signatures and moto accepts any.
--
-- done() prints one machine-readable line, read by bench/run.sh:
--   FOGBANK_BENCH {"requests":..,"duration_us":..,"rps":..,"p50_us":..,...}

local M = {}

M.amz_date = "20261204T120000Z"
M.authorization = "AWS4-HMAC-SHA256 "
  .. "Credential=test/20261204/us-east-1/ec2/aws4_request, "
  .. "SignedHeaders=content-type;host;x-amz-date, "
  .. "Signature=3f1c0e5f9a7b2d4c6e8f0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d2e4f6a8b0c1d"

-- Sets up wrk so every request is `POST /` with `body`.
function M.setup_request(body)
  wrk.method = "POST"
  wrk.path = "/"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
  wrk.headers["X-Amz-Date"] = M.amz_date
  wrk.headers["Authorization"] = M.authorization
  wrk.headers["User-Agent"] = "aws-cli/2.27.0 md/awscrt#0.26.1 ua/2.1 os/linux#6.1 md/arch#x86_64 lang/python#3.13.3 md/pyimpl#CPython m/Z,b cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off md/command#ec2.describe-vpcs"
  wrk.headers["Accept-Encoding"] = "identity"
end

-- Reads a required environment variable (wrk's Lua has os.getenv).
function M.require_env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error("environment variable " .. name .. " must be set for this scenario")
  end
  return v
end

function M.done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'FOGBANK_BENCH {"requests":%d,"duration_us":%d,"rps":%.2f,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
      .. '"bytes":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    summary.bytes, e.status, e.connect, e.read, e.write, e.timeout))
end

return M
