// Orders paid with points at a fixed arrival rate (SPEC section 9): RATE orders a second for
// DURATION, each one unit of a product taken at random from PRODUCTS, as the next user of
// the tokens (round-robin), under a fresh Idempotency-Key. Every order must be answered
// 200 PAID within P99_MS at the 99th percentile, none dropped by k6 for want of VUs.
// Against a server prepared as bench/orders.sh prepares it (products with ample stock,
// load users with points; `K6=1 bench/orders.sh` runs this script at its end):
//   k6 run -e TOKENS=tokens.txt -e PRODUCTS=12-61 -e RATE=300 load/orders.js
// Environment (-e NAME=VALUE):
//   BASE_URL   the service (http://127.0.0.1:8080)
//   TOKENS     a file of access tokens, one a line (bench/coupon_tokens.py makes it); without
//              it setup logs in USERS load users (load00001...) itself
//   USERS      load users logged in by setup when there is no TOKENS (20)
//   PRODUCTS   product ids, a list and/or ranges ("12-61", "3,5,9-11"); without it, every
//              product of GET /store/products with at least MIN_STOCK units (10000)
//   HOT        one product id: every order on it (PRODUCTS is then ignored)
//   QTY        units a line (1)
//   RATE       orders a second (200); DURATION (30s); VUS pre-allocated (50), MAX_VUS (200)
//   P99_MS     the p99 threshold, milliseconds (100)
//   RUN        tag of the Idempotency-Keys (default: the start time)
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter } from 'k6/metrics';
import { API, authed, login } from './lib.js';

const RATE = parseInt(__ENV.RATE || '200', 10);
const DURATION = __ENV.DURATION || '30s';
const VUS = parseInt(__ENV.VUS || '50', 10);
const MAX_VUS = parseInt(__ENV.MAX_VUS || '200', 10);
const P99_MS = parseInt(__ENV.P99_MS || '100', 10);
const QTY = parseInt(__ENV.QTY || '1', 10);
const USERS = parseInt(__ENV.USERS || '20', 10);
const MIN_STOCK = parseInt(__ENV.MIN_STOCK || '10000', 10);
const RUN = __ENV.RUN || `${Date.now()}`;
const FILE_TOKENS = __ENV.TOKENS
  ? new SharedArray('tokens', () => open(__ENV.TOKENS).split('\n').filter((l) => l.length > 0))
  : null;

const paid = new Counter('orders_paid');
const pending = new Counter('orders_pending');
const refused = new Counter('orders_refused');

export const options = {
  scenarios: {
    orders: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: MAX_VUS,
    },
  },
  thresholds: {
    'http_req_duration{name:POST /store/orders}': [`p(99)<${P99_MS}`],
    'http_req_failed{name:POST /store/orders}': ['rate==0'],
    dropped_iterations: ['count==0'],
    checks: ['rate==1'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

function parseProducts(spec) {
  const out = [];
  for (const part of spec.split(/[,\s]+/).filter((p) => p.length > 0)) {
    const range = part.match(/^(\d+)-(\d+)$/);
    if (range) {
      for (let p = parseInt(range[1], 10); p <= parseInt(range[2], 10); p++) out.push(p);
    } else {
      out.push(parseInt(part, 10));
    }
  }
  return out;
}

export function setup() {
  let tokens = FILE_TOKENS ? FILE_TOKENS.slice() : [];
  if (tokens.length === 0) {
    for (let n = 1; n <= USERS; n++) {
      const s = login(`load${String(n).padStart(5, '0')}`);
      if (s) tokens.push(s.access_token);
    }
  }
  if (tokens.length === 0) throw new Error('no token: set TOKENS or create load users');
  let products;
  if (__ENV.HOT) {
    products = [parseInt(__ENV.HOT, 10)];
  } else if (__ENV.PRODUCTS) {
    products = parseProducts(__ENV.PRODUCTS);
  } else {
    const r = http.get(`${API}/store/products?page=1&size=100`,
      authed(tokens[0], 'GET /store/products'));
    products = r.status === 200
      ? r.json('data.items').filter((p) => p.stock >= MIN_STOCK).map((p) => p.productId)
      : [];
  }
  if (products.length === 0) throw new Error('no product: set PRODUCTS or HOT');
  return { tokens, products };
}

export default function (data) {
  const i = exec.scenario.iterationInTest;
  const token = data.tokens[i % data.tokens.length];
  const product = data.products[Math.floor(Math.random() * data.products.length)];
  const params = authed(token, 'POST /store/orders');
  params.headers['Idempotency-Key'] = `k6-${RUN}-${i}`;
  params.responseCallback = http.expectedStatuses(200);
  const r = http.post(`${API}/store/orders`,
    JSON.stringify({ items: [{ productId: product, quantity: QTY }] }), params);
  if (r.status === 200) paid.add(1);
  else if (r.status === 202) pending.add(1);
  else refused.add(1);
  check(r, { 'order answered 200 PAID': (x) => x.status === 200 && x.json('data.status') === 'PAID' });
}
