// Shared helpers of the k6 scripts.
import http from 'k6/http';
import { check } from 'k6';

export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const API = `${BASE_URL}/api/v1`;
export const PASSWORD = __ENV.PASSWORD || 'Passw0rd!';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

export function login(userId) {
  const res = http.post(`${API}/auth/login`, JSON.stringify({ userId, password: PASSWORD }), {
    headers: JSON_HEADERS,
    tags: { name: 'POST /auth/login' },
    // Read even where a script discards response bodies.
    responseType: 'text',
  });
  check(res, { 'login 200': (r) => r.status === 200 });
  return res.status === 200 ? res.json() : null;
}

export function authed(token, name) {
  return { headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}` }, tags: { name } };
}

/** The current month and the 11 before it, `YYYYMM`, in Korean time. */
export function months() {
  const now = new Date(Date.now() + 9 * 3600 * 1000);
  let y = now.getUTCFullYear();
  let m = now.getUTCMonth() + 1;
  const out = [];
  for (let i = 0; i < 12; i++) {
    out.push(`${y}${String(m).padStart(2, '0')}`);
    m -= 1;
    if (m === 0) { m = 12; y -= 1; }
  }
  return out;
}
