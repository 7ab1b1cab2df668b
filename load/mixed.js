// The seeds' workload at a constant arrival rate: many users logged in once, bill menu and
// inquiries over a skewed distribution of lines and months, occasional product changes.
// Needs load users: `phonebill seed-demo --load-users N` (N >= USERS).
//   k6 run -e RATE=1000 -e DURATION=60s -e USERS=200 load/mixed.js
import http from 'k6/http';
import { check } from 'k6';
import { API, authed, login, months } from './lib.js';

const RATE = parseInt(__ENV.RATE || '1000', 10);
const DURATION = __ENV.DURATION || '60s';
const USERS = parseInt(__ENV.USERS || '200', 10);

export const options = {
  setupTimeout: '300s',
  // Statuses are all the script reads: k6 keeps no body (it costs the load generator CPU
  // that the two cores of a capacity run need); the one read it needs asks for its body.
  discardResponseBodies: true,
  // Only the tags the thresholds and the summary read: k6 builds every tag of every sample
  // (the default set adds url, proto, group, check, error…), at a cost per request.
  systemTags: ['status', 'method', 'name', 'scenario', 'expected_response'],
  scenarios: {
    mixed: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: Math.max(50, Math.ceil(RATE / 20)),
      maxVUs: Math.max(200, Math.ceil(RATE / 5)),
    },
  },
  // A failed request is one answered outside its expected statuses (200-399; 200 or 409
  // for a change): what the checks of the hot paths would say, without a sample per check.
  thresholds: {
    'http_req_duration{kind:api}': ['p(95)<20', 'p(99)<50'],
    'http_req_failed{kind:api}': ['rate<0.001'],
    dropped_iterations: ['count==0'],
    checks: ['rate>0.999'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  const sessions = [];
  for (let n = 1; n <= USERS; n++) {
    const id = `load${String(n).padStart(5, '0')}`;
    const s = login(id);
    if (s) sessions.push({ token: s.access_token, line: s.line_number });
  }
  return { sessions, months: months() };
}

/** A skewed pick: a few users and recent months get most of the traffic. */
function skewed(max) {
  return Math.min(max - 1, Math.floor(max * Math.pow(Math.random(), 3)));
}

const MENU = `${API}/bills/menu`;
const INQUIRY = `${API}/bills/inquiry`;
const CUSTOMER = `${API}/products/customer`;
const CHANGE = `${API}/products/change`;

/** Each session's request parameters and inquiry bodies, made on its first use in a VU
 *  (not per request). */
let prepared = null;
function prepare(s, months) {
  const params = (name, extra) => {
    const p = authed(s.token, name);
    p.tags.kind = 'api';
    return Object.assign(p, extra || {});
  };
  return {
    line: s.line,
    menu: params('GET /bills/menu'),
    inquiry: params('POST /bills/inquiry'),
    bodies: months.map((m) => JSON.stringify({ lineNumber: s.line, inquiryMonth: m })),
    customer: params('GET /products/customer', { responseType: 'text' }),
    // 409 is an expected answer to a change, not a failed request.
    change: params('POST /products/change', { responseCallback: http.expectedStatuses(200, 409) }),
  };
}

export default function (data) {
  if (prepared === null) prepared = new Array(data.sessions.length);
  const i = skewed(prepared.length);
  const s = prepared[i] || (prepared[i] = prepare(data.sessions[i], data.months));
  const dice = Math.random();
  if (dice < 0.10) {
    http.get(MENU, s.menu);
  } else if (dice < 0.995) {
    http.post(INQUIRY, s.bodies[skewed(12)], s.inquiry);
  } else {
    // An occasional product change; a 409 (another change of the line in flight, or the
    // pre-check seeing a product that changed meanwhile) is a correct answer here.
    const c = http.get(CUSTOMER, s.customer);
    if (c.status !== 200) { check(c, { 'customer 200': () => false }); return; }
    const current = c.json('data.currentProduct.productCode');
    const target = current === 'LTE-BASIC-001' ? 'LTE-PREMIUM-001' : 'LTE-BASIC-001';
    const body = JSON.stringify({ lineNumber: s.line, currentProductCode: current, targetProductCode: target });
    const r = http.post(CHANGE, body, s.change);
    check(r, { 'change answered': (x) => x.status === 200 || x.status === 409 });
  }
}

export function handleSummary(data) {
  const file = __ENV.SUMMARY || 'load/results/mixed-summary.json';
  return { [file]: JSON.stringify(data, null, 2), stdout: textSummary(data) };
}

function textSummary(data) {
  const m = data.metrics;
  const d = m['http_req_duration{kind:api}'] || m.http_req_duration;
  const v = d ? d.values : {};
  const failed = (m['http_req_failed{kind:api}'] || m.http_req_failed || { values: { rate: 0 } }).values.rate;
  const dropped = m.dropped_iterations ? m.dropped_iterations.values.count : 0;
  return `mixed: rate ${RATE}/s for ${DURATION}, ${USERS} users\n` +
    `  requests ${m.http_reqs.values.count} (${m.http_reqs.values.rate.toFixed(1)}/s), failed ${(failed * 100).toFixed(3)}%, dropped iterations ${dropped}\n` +
    `  latency p50 ${v.med?.toFixed(2)} ms, p95 ${v['p(95)']?.toFixed(2)} ms, p99 ${v['p(99)']?.toFixed(2)} ms, max ${v.max?.toFixed(2)} ms\n`;
}
