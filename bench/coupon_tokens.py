"""Logs in load users load00001..load<N> against a running phonebill and prints one access
token a line (bench/coupons.sh), a few logins at a time over kept-alive connections.
    python3 bench/coupon_tokens.py PORT N [PARALLEL]"""
import http.client, json, sys, threading
from concurrent.futures import ThreadPoolExecutor

PORT = int(sys.argv[1])
N = int(sys.argv[2])
PARALLEL = int(sys.argv[3]) if len(sys.argv) > 3 else 8
local = threading.local()


def token(n):
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection("127.0.0.1", PORT)
    body = json.dumps({"userId": "load%05d" % n, "password": "Passw0rd!"})
    for _ in range(50):
        local.conn.request("POST", "/api/v1/auth/login", body, {"content-type": "application/json"})
        res = local.conn.getresponse()
        data = res.read()
        if res.status == 200:
            return json.loads(data)["access_token"]
        if res.status != 503:  # 503: the hashing queue is full; try again
            raise SystemExit("login of load%05d: %d" % (n, res.status))
    raise SystemExit("login of load%05d kept being refused" % n)


with ThreadPoolExecutor(PARALLEL) as pool:
    for t in pool.map(token, range(1, N + 1), chunksize=64):
        print(t)
