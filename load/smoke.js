// A short run of every flow against a fresh `phonebill serve` (demo users seeded).
//   k6 run load/smoke.js            (BASE_URL=http://127.0.0.1:8080 by default)
import http from 'k6/http';
import { check, group } from 'k6';
import { API, BASE_URL, authed, login, months } from './lib.js';

export const options = {
  vus: 2,
  iterations: 6,
  thresholds: {
    checks: ['rate==1.0'],
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<500', 'p(99)<1000'],
  },
};

const OK = (r) => r.status === 200;

export default function () {
  group('service endpoints', () => {
    check(http.get(`${BASE_URL}/health/live`), { 'live 200': OK });
    check(http.get(`${BASE_URL}/health/ready`), { 'ready 200': OK });
  });

  const session = login('user01');
  if (!session) return;
  const t = session.access_token;

  group('bills', () => {
    check(http.get(`${API}/bills/menu`, authed(t, 'GET /bills/menu')), { 'menu 200': OK });
    for (const m of months().slice(0, 3)) {
      const r = http.post(`${API}/bills/inquiry`, JSON.stringify({ lineNumber: '010-1234-5001', inquiryMonth: m }),
        authed(t, 'POST /bills/inquiry'));
      check(r, { 'inquiry 200': OK, 'total is a number': (x) => typeof x.json('data.billInfo.totalFee') === 'number' });
      if (r.status === 200) {
        const id = r.json('data.requestId');
        check(http.get(`${API}/bills/inquiry/${id}`, authed(t, 'GET /bills/inquiry/{id}')), { 'result 200': OK });
      }
    }
    check(http.get(`${API}/bills/history?page=1&size=20`, authed(t, 'GET /bills/history')), { 'history 200': OK });
  });

  group('products', () => {
    check(http.get(`${API}/products/menu`, authed(t, 'GET /products/menu')), { 'product menu 200': OK });
    const c = http.get(`${API}/products/customer`, authed(t, 'GET /products/customer'));
    check(c, { 'customer 200': OK });
    check(http.get(`${API}/products/available?operatorCode=KT`, authed(t, 'GET /products/available')), { 'available 200': OK });
    const current = c.json('data.currentProduct.productCode');
    const target = current === 'LTE-BASIC-001' ? 'LTE-PREMIUM-001' : 'LTE-BASIC-001';
    const body = JSON.stringify({ lineNumber: '01012345001', currentProductCode: current, targetProductCode: target });
    const v = http.post(`${API}/products/change/validation`, body, authed(t, 'POST /products/change/validation'));
    check(v, { 'validation 200': OK });
    // Only one virtual user changes the line, so the runs do not collide on it.
    if (__VU === 1) {
      const p = authed(t, 'POST /products/change');
      p.headers['Idempotency-Key'] = `smoke-${__VU}-${__ITER}-${Date.now()}`;
      const r = http.post(`${API}/products/change`, body, p);
      check(r, { 'change 200': OK, 'completed': (x) => x.json('data.processStatus') === 'COMPLETED' });
      if (r.status === 200) {
        check(http.get(`${API}/products/change/${r.json('data.requestId')}`, authed(t, 'GET /products/change/{id}')), { 'change result 200': OK });
      }
    }
    check(http.get(`${API}/products/history`, authed(t, 'GET /products/history')), { 'change history 200': OK });
  });

  group('auth', () => {
    check(http.get(`${API}/auth/verify`, authed(t, 'GET /auth/verify')), { 'verify 200': OK });
    check(http.get(`${API}/auth/permissions`, authed(t, 'GET /auth/permissions')), { 'permissions 200': OK });
    check(http.get(`${API}/users/user01`, authed(t, 'GET /users/{id}')), { 'user 200': OK });
    const r = http.post(`${API}/auth/refresh`, JSON.stringify({ refreshToken: session.refresh_token }), authed(t, 'POST /auth/refresh'));
    check(r, { 'refresh 200': OK });
    const fresh = r.status === 200 ? r.json('data.accessToken') : t;
    check(http.post(`${API}/auth/logout`, '{}', authed(fresh, 'POST /auth/logout')), { 'logout 200': OK });
    const revoked = authed(fresh, 'GET /auth/verify (after logout)');
    revoked.responseCallback = http.expectedStatuses(401);
    check(http.get(`${API}/auth/verify`, revoked), { 'revoked 401': (x) => x.status === 401 });
  });
}
