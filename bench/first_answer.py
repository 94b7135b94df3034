#!/usr/bin/env python3
"""Time from exec to a server's first successful HTTP answer.

Usage:
    first_answer.py [--runs 5] [--health-path /_fogbank/health] [--timeout 60]
                    [--json] -- COMMAND ARG... ({port} is replaced by a free port)
    first_answer.py --attach PORT [--health-path P] [--timeout 60]
        (readiness wait: poll an already running server, no exec, no timing claim)

Each run picks a free loopback port, takes t0 = time.perf_counter(), execs the
command and hammers 127.0.0.1:PORT in a tight loop (TCP connect, then one
request, Connection: close) until it answers 200:

  * with --health-path: first `GET <health-path>` -> 200 (reported as health_ms),
    then `POST /` DescribeVpcs -> 200;
  * always: the first `POST /` DescribeVpcs (EC2 Query API, SigV4-shaped
    Authorization header) answered 200 is the "first answer" (first_answer_ms).

The server is then stopped (SIGTERM to its process group, SIGKILL after 5 s)
and the next run starts. Prints the per-run times and the medians; with --json,
one JSON object on the last line of stdout.

Only ever connects to 127.0.0.1. Stdlib only.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

DESCRIBE_VPCS_BODY = b"Action=DescribeVpcs&Version=2016-11-15"
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/ec2/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=3f1c0e5f9a7b2d4c6e8f0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d2e4f6a8b0c1d"
)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe_vpcs_request(port):
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        "X-Amz-Date: 20261204T120000Z\r\n"
        f"Authorization: {AUTHORIZATION}\r\n"
        f"Content-Length: {len(DESCRIBE_VPCS_BODY)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + DESCRIBE_VPCS_BODY


def get_request(port, path):
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ).encode()


def try_once(port, request):
    """One attempt; returns the HTTP status code, or None if no answer yet."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(2.0)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                return None
            buf += chunk
        parts = buf.split(b"\r\n", 1)[0].split()
        if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
            return int(parts[1])
        return None
    except OSError:
        return None
    finally:
        s.close()


def stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def one_run(cmd_template, health_path, timeout, interval):
    port = free_port()
    cmd = [a.replace("{port}", str(port)) for a in cmd_template]
    log = tempfile.TemporaryFile()
    phases = []
    if health_path:
        phases.append(("health_ms", get_request(port, health_path)))
    phases.append(("first_answer_ms", describe_vpcs_request(port)))
    result = {}
    last_status = None
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for name, request in phases:
            while True:
                status = try_once(port, request)
                if status == 200:
                    result[name] = (time.perf_counter() - t0) * 1000.0
                    break
                if status is not None:
                    last_status = status
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with code {proc.returncode} before answering 200"
                        + _tail(log))
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(
                        f"no 200 within {timeout:.0f} s (last HTTP status: {last_status})"
                        + _tail(log))
                if interval > 0:
                    time.sleep(interval)
    finally:
        stop(proc)
        log.close()
    return result


def attach(port, health_path, timeout, interval, pid=None):
    """Wait until a server that is already running answers 200 (readiness)."""
    t0 = time.perf_counter()
    phases = []
    if health_path:
        phases.append(get_request(port, health_path))
    phases.append(describe_vpcs_request(port))
    last_status = None
    for request in phases:
        while True:
            status = try_once(port, request)
            if status == 200:
                break
            if status is not None:
                last_status = status
            if pid is not None and not os.path.exists(f"/proc/{pid}"):
                raise RuntimeError(f"server process {pid} is gone")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(
                    f"no 200 within {timeout:.0f} s (last HTTP status: {last_status})")
            time.sleep(max(interval, 0.001))
    return (time.perf_counter() - t0) * 1000.0


def _tail(log, n=2000):
    try:
        log.seek(0)
        data = log.read().decode(errors="replace")[-n:]
        return "\n--- server output (tail) ---\n" + data if data else ""
    except Exception:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--health-path", default=None,
                    help="also time the first 200 for GET <path> (e.g. /_fogbank/health)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per run, seconds")
    ap.add_argument("--interval-ms", type=float, default=0.0,
                    help="pause between attempts (default 0: a tight loop)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--attach", type=int, metavar="PORT",
                    help="do not exec: wait until the server on PORT answers 200")
    ap.add_argument("--pid", type=int, help="with --attach: fail early if this pid dies")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()

    if args.attach:
        try:
            ms = attach(args.attach, args.health_path, args.timeout,
                        args.interval_ms / 1000.0, args.pid)
        except RuntimeError as e:
            print(f"first_answer: port {args.attach}: {e}", file=sys.stderr)
            sys.exit(1)
        if args.json:
            print(json.dumps({"ready_after_ms": ms}))
        return
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("missing command (after --)")

    runs = []
    for i in range(args.runs):
        try:
            r = one_run(cmd, args.health_path, args.timeout, args.interval_ms / 1000.0)
        except (RuntimeError, OSError) as e:
            print(f"first_answer: run {i + 1}: {e}", file=sys.stderr)
            if args.json:
                print(json.dumps({"error": f"run {i + 1}: {str(e).splitlines()[0]}"}))
            sys.exit(1)
        runs.append(r)
        print("run %d: %s" % (i + 1, ", ".join(f"{k}={v:.1f}" for k, v in r.items())),
              file=sys.stderr)

    out = {"runs": runs}
    for key in runs[0]:
        out["median_" + key] = statistics.median(r[key] for r in runs)
    summary = ", ".join(f"{k}={v:.1f}" for k, v in out.items() if k.startswith("median_"))
    print(f"median of {len(runs)} runs: {summary}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))


def _on_sigterm(signum, frame):
    # Turn SIGTERM into an exception so `finally` stops the server we started.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
