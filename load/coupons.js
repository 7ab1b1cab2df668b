// First-come coupon claims on one campaign, all at once (SPEC section 9): each of VUS
// virtual users opens BATCH connections (GET /health/live), waits for a start time common
// to all, then sends BATCH claims of distinct users in parallel on them (http.batch), so
// VUS × BATCH claims arrive together. Every claim must be answered 200 (issued) or 410 (sold out):
// exactly QUANTITY 200s, and the teardown asks the admin endpoint that ALREADY + QUANTITY
// were issued with none remaining. TOKENS names a file of access tokens, one a line, one per
// user (bench/coupons.sh makes it); campaign CODE must exist with QUANTITY left and
// ALREADY (default 0) issued, none of them to these users. (QUANTITY=0 ALREADY=1 on a
// sold-out campaign measures the same burst answered from memory.)
//   k6 run -e TOKENS=tokens.txt -e CODE=BURST100 -e QUANTITY=100 -e VUS=100 -e BATCH=20 load/coupons.js
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter } from 'k6/metrics';
import { API, BASE_URL, authed, login } from './lib.js';

const CODE = __ENV.CODE || 'EVENT2025';
const QUANTITY = parseInt(__ENV.QUANTITY || '100', 10);
const ALREADY = parseInt(__ENV.ALREADY || '0', 10);
const VUS = parseInt(__ENV.VUS || '100', 10);
const BATCH = parseInt(__ENV.BATCH || '20', 10);
// The first token of this run (runs on different campaigns may take different users).
const OFFSET = parseInt(__ENV.OFFSET || '0', 10);
// Milliseconds from setup's end to the common start (time for every VU to connect).
const WARM_MS = parseInt(__ENV.WARM_MS || '3000', 10);
const P99_MS = parseInt(__ENV.P99_MS || '100', 10);
const TOKENS = new SharedArray('tokens', () =>
  open(__ENV.TOKENS).split('\n').filter((l) => l.length > 0));

const issued = new Counter('coupons_issued');
const soldOut = new Counter('coupons_sold_out');

export const options = {
  scenarios: {
    burst: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: '60s' },
  },
  // Each VU's claims go out together, each on its own connection.
  batch: BATCH,
  batchPerHost: BATCH,
  thresholds: {
    'http_req_duration{name:POST /store/coupons}': [`p(99)<${P99_MS}`],
    'http_req_failed{name:POST /store/coupons}': ['rate==0'],
    coupons_issued: [`count==${QUANTITY}`],
    coupons_sold_out: [`count==${VUS * BATCH - QUANTITY}`],
    checks: ['rate==1'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  if (TOKENS.length < OFFSET + VUS * BATCH) {
    throw new Error(`${VUS * BATCH} claims from token ${OFFSET} need as many; ${TOKENS.length} tokens`);
  }
  return { startAt: Date.now() + WARM_MS };
}

export default function (data) {
  const warm = [];
  for (let i = 0; i < BATCH; i++) {
    warm.push(['GET', `${BASE_URL}/health/live`, null, { tags: { name: 'warm-up' } }]);
  }
  http.batch(warm);
  const wait = data.startAt - Date.now();
  if (wait > 0) sleep(wait / 1000);
  const first = OFFSET + (exec.vu.idInTest - 1) * BATCH;
  const body = JSON.stringify({ couponCode: CODE });
  const requests = [];
  for (let i = 0; i < BATCH; i++) {
    const params = authed(TOKENS[first + i], 'POST /store/coupons');
    params.responseCallback = http.expectedStatuses(200, 410);
    requests.push(['POST', `${API}/store/coupons`, body, params]);
  }
  for (const r of http.batch(requests)) {
    if (r.status === 200) issued.add(1);
    if (r.status === 410) soldOut.add(1);
    check(r, { 'claim answered 200 or 410': (x) => x.status === 200 || x.status === 410 });
  }
}

export function teardown() {
  const admin = login('admin');
  if (!admin) return;
  const r = http.get(`${API}/store/admin/coupons/${CODE}`,
    authed(admin.access_token, 'GET /store/admin/coupons/{code}'));
  check(r, {
    'campaign read': (x) => x.status === 200,
    [`exactly ${ALREADY + QUANTITY} issued`]: (x) =>
      x.status === 200 && x.json('data.issued') === ALREADY + QUANTITY,
    'none remaining': (x) => x.status === 200 && x.json('data.remaining') === 0,
  });
}
