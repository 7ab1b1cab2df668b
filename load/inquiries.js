// Cache-hit bill inquiries of one demo user at a constant arrival rate (bench/mvno_lag.sh).
//   k6 run -e RATE=1000 -e DURATION=10s load/inquiries.js
import http from 'k6/http';
import { API, authed, login } from './lib.js';

const RATE = parseInt(__ENV.RATE || '1000', 10);

export const options = {
  scenarios: {
    inquiries: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: Math.max(20, Math.ceil(RATE / 50)),
      maxVUs: Math.max(100, Math.ceil(RATE / 5)),
    },
  },
  summaryTrendStats: ['p(50)', 'p(99)', 'max'],
};

export function setup() {
  return { token: login('user01').access_token };
}

export default function (data) {
  http.post(`${API}/bills/inquiry`, JSON.stringify({ lineNumber: '01012345001' }),
    authed(data.token, 'POST /bills/inquiry'));
}
