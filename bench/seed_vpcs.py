#!/usr/bin/env python3
"""Seed N VPCs into an EC2 endpoint on 127.0.0.1 with boto3 (run with bench/.venv/bin/python).

Usage:
    seed_vpcs.py --endpoint http://127.0.0.1:PORT [--count 1000] [--workers 8]
                 [--time-cap 300] [--json]

CreateVpc calls run concurrently on a thread pool (static creds test/test,
region us-east-1); VPC i gets CIDR 10.(i // 256).(i % 256).0/24. New calls stop
being submitted once --time-cap seconds have passed (the seeding is then
reported as capped, with how many VPCs were made). Afterwards one VPC from the
middle of the created set is checked with DescribeVpcs(Filter vpc-id=...) and
printed as target_vpc_id, for the "filtered by vpc-id" scenario.

Prints progress to stderr; with --json, one JSON object on the last line of
stdout: {"requested", "created", "errors", "seconds", "capped", "target_vpc_id", ...}.
"""

import argparse
import json
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import boto3
from botocore.config import Config


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--time-cap", type=float, default=300.0,
                    help="stop submitting CreateVpc calls after this many seconds")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if not args.endpoint.startswith(("http://127.", "http://localhost")):
        ap.error("only loopback endpoints are allowed")

    cfg = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=args.workers * 2,
        connect_timeout=5,
        read_timeout=60,
    )
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    local = threading.local()

    def client():
        # botocore clients are thread-safe, but one per thread avoids lock contention.
        if not hasattr(local, "ec2"):
            local.ec2 = session.client("ec2", endpoint_url=args.endpoint, config=cfg)
        return local.ec2

    def create(i):
        cidr = f"10.{i // 256}.{i % 256}.0/24"
        return client().create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]

    # Build the clients' shared bits (endpoint resolution, models) before timing.
    session.client("ec2", endpoint_url=args.endpoint, config=cfg)

    created = {}
    errors = []
    capped = False
    t0 = time.perf_counter()
    next_i = 0
    last_report = t0
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        pending = {}
        while next_i < args.count or pending:
            while next_i < args.count and len(pending) < args.workers * 2:
                if time.perf_counter() - t0 > args.time_cap:
                    capped = True
                    break
                pending[pool.submit(create, next_i)] = next_i
                next_i += 1
            if capped and next_i < args.count and not pending:
                break
            if not pending:
                break
            done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    created[i] = fut.result()
                except Exception as e:  # noqa: BLE001 - report and go on
                    errors.append(f"vpc {i}: {type(e).__name__}: {e}")
            if capped:
                next_i = args.count  # submit nothing more; drain what is in flight
            now = time.perf_counter()
            if now - last_report >= 5:
                print(f"seed: {len(created)}/{args.count} VPCs after {now - t0:.1f} s",
                      file=sys.stderr)
                last_report = now
    seconds = time.perf_counter() - t0

    out = {
        "endpoint": args.endpoint,
        "requested": args.count,
        "created": len(created),
        "errors": len(errors),
        "first_errors": errors[:5],
        "seconds": round(seconds, 3),
        "per_second": round(len(created) / seconds, 1) if seconds > 0 else None,
        "capped": capped,
        "target_vpc_id": None,
    }
    if created:
        ids = [created[i] for i in sorted(created)]
        target = ids[len(ids) // 2]
        ec2 = client()
        # The same request shape as bench/wrk/describe_vpcs_by_id.lua.
        found = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [target]}])["Vpcs"]
        out["filter_by_id_returned"] = len(found)
        if len(found) == 1 and found[0]["VpcId"] == target:
            out["target_vpc_id"] = target
        else:
            errors.append(f"DescribeVpcs(Filter vpc-id={target}) returned {len(found)} VPCs")
            out["errors"] = len(errors)
        # The same request shape as bench/wrk/describe_vpcs_max5.lua: does the
        # server honour MaxResults (5 VPCs + NextToken) or list everything?
        try:
            page = ec2.describe_vpcs(MaxResults=5)
            out["max5_returned"] = len(page["Vpcs"])
            out["max5_next_token"] = bool(page.get("NextToken"))
        except Exception as e:  # noqa: BLE001
            out["max5_returned"] = f"error: {e}"
        # How many VPCs the server lists in all (includes any default VPC).
        try:
            out["listed_total"] = len(ec2.describe_vpcs()["Vpcs"])
        except Exception as e:  # noqa: BLE001
            out["listed_total"] = f"error: {e}"

    for e in errors[:5]:
        print(f"seed: error: {e}", file=sys.stderr)
    print(f"seed: created {len(created)}/{args.count} VPCs in {seconds:.1f} s"
          f"{' (time cap hit)' if capped else ''}, {len(errors)} errors, "
          f"target {out['target_vpc_id']}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    sys.exit(0 if out["target_vpc_id"] else 1)


if __name__ == "__main__":
    main()
