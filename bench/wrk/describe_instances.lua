-- Scenario: DescribeInstances on a fresh server (no instances).
-- Load common.lua from the directory this script lives in.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local common = dofile(dir .. "common.lua")
done = common.done

common.setup_request("Action=DescribeInstances&Version=2016-11-15")
