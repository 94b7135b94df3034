-- Scenario: DescribeVpcs listing with MaxResults=5 (first page), with 1,000 VPCs stored.
-- Load common.lua from the directory this script lives in.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local common = dofile(dir .. "common.lua")
done = common.done

common.setup_request("Action=DescribeVpcs&Version=2016-11-15&MaxResults=5")
