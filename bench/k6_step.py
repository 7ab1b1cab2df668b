"""One constant-rate k6 step, read from its summary (load/mixed.js's handleSummary JSON).

Shared by bench/capacity.sh and bench/k6_floor.sh so that both judge a step by one rule:
held when p99 < 100 ms, no request failed and k6 started at least 99 % of the iterations
on time (capacity.sh also asks for drained backlogs).
"""
import json


def read(path):
    m = json.load(open(path))["metrics"]
    d = (m.get("http_req_duration{kind:api}") or m["http_req_duration"])["values"]
    failed = (m.get("http_req_failed{kind:api}") or m["http_req_failed"])["values"]["rate"]
    dropped = m.get("dropped_iterations", {}).get("values", {}).get("count", 0)
    iterations = m["iterations"]["values"]["count"]
    return {
        "p95": d["p(95)"],
        "p99": d["p(99)"],
        "failed": failed,
        "dropped": dropped,
        "dropped_pct": 100 * dropped / max(iterations + dropped, 1),
        "iterations": iterations,
        "requests": m["http_reqs"]["values"]["count"],
        "held": d["p(99)"] < 100 and failed == 0 and dropped <= 0.01 * (iterations + dropped),
    }
