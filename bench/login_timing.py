"""Login timing of a known user with a wrong password against an unknown user id, against a
running phonebill (`bench/login_timing.sh` starts one): pairs alternate which goes first,
so neither side pays for its position. Prints p10/median/p90 of each and the differences.
    python3 bench/login_timing.py [PORT] [PAIRS]   (users load00001..load<PAIRS> must exist)"""
import http.client, json, statistics, sys, time

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 18080
PAIRS = int(sys.argv[2]) if len(sys.argv) > 2 else 400
conn = http.client.HTTPConnection("127.0.0.1", PORT)


def attempt(user):
    body = json.dumps({"userId": user, "password": "Wrong-passw0rd"})
    started = time.perf_counter()
    conn.request("POST", "/api/v1/auth/login", body, {"content-type": "application/json"})
    res = conn.getresponse()
    res.read()
    assert res.status == 401, res.status
    return (time.perf_counter() - started) * 1000


for n in range(20):
    attempt("warm%02d" % n)
known, unknown = [], []
for i in range(1, PAIRS + 1):
    pair = [(known, "load%05d" % i), (unknown, "nouser%05d" % i)]
    for sink, user in pair if i % 2 else reversed(pair):
        sink.append(attempt(user))


def q(xs, p):
    return sorted(xs)[int(len(xs) * p)]


for name, xs in (("known user, wrong password", known), ("unknown user", unknown)):
    print("%-28s n=%d p10 %.2f ms  median %.2f ms  p90 %.2f ms"
          % (name, len(xs), q(xs, .1), statistics.median(xs), q(xs, .9)))
print("known - unknown: median %.2f ms, p10 %.2f ms"
      % (statistics.median(known) - statistics.median(unknown), q(known, .1) - q(unknown, .1)))
