-- Scenario: DescribeVpcs filtered by vpc-id, with 1,000 VPCs stored.
-- The id to look up comes from the environment: BENCH_VPC_ID=vpc-... wrk -s ...
-- Load common.lua from the directory this script lives in.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local common = dofile(dir .. "common.lua")
done = common.done

local vpc_id = common.require_env("BENCH_VPC_ID")
common.setup_request("Action=DescribeVpcs&Version=2016-11-15"
  .. "&Filter.1.Name=vpc-id&Filter.1.Value.1=" .. vpc_id)
