// qa serve's web dashboard (docs/dashboard.md): one page, hash routes, no framework.
// Talks to the JSON API of docs/api.md with a bearer token; GET /api/me says which
// routes the caller may use, and every nav entry and action whose route is absent is
// left out. DOM is built with h() (text nodes, never innerHTML of server data). Charts:
// uPlot (vendored, embedded into qa) for time series, SVG for the heatmap and bars.

// ---- session -----------------------------------------------------------------------------

const KEY = 'qa.session';
let session = load();               // {access, refresh, user, roles, routes}
let routeTable = [];                // [{method, re}] from /api/me

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
}
function save() {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// A route template of /api/me ("/api/runs/{id}") as a regular expression over paths.
function templateRe(path) {
  const esc = path.split(/\{[^}]*\}/).map(s => s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'));
  return new RegExp('^' + esc.join('[^/]+') + '$');
}

// allowed('POST', '/api/live/kill'): may the caller use it? Path parameters may be
// given as templates ("{name}") or as values.
function allowed(method, path) {
  const p = path.split('?')[0];
  return routeTable.some(r => r.method === method && (r.path === p || r.re.test(p)));
}

async function refreshToken() {
  if (!session || !session.refresh) return false;
  const r = await fetch('/api/refresh', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (!r.ok) return false;
  const j = await r.json();
  session.access = j.access_token;
  if (j.refresh_token) session.refresh = j.refresh_token;
  save();
  return true;
}

// api(method, path[, body]): the answer's JSON. A 401 tries one refresh, then sends the
// user back to the login page; other failures throw ApiError with the server's text.
async function api(method, path, body, retried) {
  const headers = { Accept: 'application/json' };
  if (session && session.access) headers.Authorization = 'Bearer ' + session.access;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401 && !retried && path !== '/api/login') {
    if (await refreshToken()) return api(method, path, body, true);
    logoutLocal('Your session has ended: please log in again.');
    throw new ApiError(401, 'not logged in');
  }
  let j = null;
  const text = await r.text();
  try { j = text ? JSON.parse(text) : null; } catch { j = null; }
  if (!r.ok) throw new ApiError(r.status, (j && j.error) || r.statusText || ('HTTP ' + r.status));
  return j;
}

async function loadMe() {
  const me = await api('GET', '/api/me');
  session.user = me.user ?? session.user;
  session.roles = me.roles ?? session.roles ?? [];
  session.routes = me.routes ?? [];
  save();
  setRoutes();
}
function setRoutes() {
  routeTable = (session && session.routes || []).map(r => ({ method: r.method, path: r.path, re: templateRe(r.path) }));
}

function logoutLocal(message) {
  session = null;
  routeTable = [];
  save();
  stopStream();
  if (message) say(message, true);
  if (location.hash !== '#/login') location.hash = '#/login';
  else render();
}

async function logout() {
  const rt = session && session.refresh;
  if (rt) { try { await api('POST', '/api/logout', { refresh_token: rt }); } catch { /* gone anyway */ } }
  logoutLocal();
}

// ---- DOM helpers ----------------------------------------------------------------------

// h('tag', {attr: value, onclick: fn, testid: 'x'}, child...): an element; children are
// nodes or strings (as text), arrays are flattened, null/false skipped.
function h(tag, attrs, ...kids) {
  const svg = tag.startsWith('svg:');
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'testid') e.setAttribute('data-testid', v);
    else if (k === 'class') e.setAttribute('class', v);
    else if (k === 'value' && !svg) e.value = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, kids);
  return e;
}
function append(e, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function say(text, isError) {
  const s = document.getElementById('status');
  s.textContent = text || '';
  s.classList.toggle('err', !!isError);
}

// Number formatting, one rule everywhere (the browser test repeats it): integers with
// thousands separators; other numbers with 4 decimals below 1,000 in magnitude and 2
// above; null, NaN and missing as an em dash.
function fmt(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '—';
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    const d = Math.abs(v) >= 1000 ? 2 : 4;
    return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
// Heatmap values: always 4 decimals (what the best cell shows).
const fmt4 = v => (typeof v === 'number' && Number.isFinite(v)) ? v.toFixed(4) : '—';
const pct = v => (typeof v === 'number' && Number.isFinite(v)) ? (v * 100).toFixed(1) + '%' : '—';

function fmtTime(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'number') {
    // ns, ms or s since the epoch, told apart by size.
    const ms = v > 1e17 ? v / 1e6 : v > 1e11 ? v : v * 1000;
    return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }
  return String(v);
}

// table(columns, rows, opts): rows may be arrays (in column order) or objects. Each cell
// carries data-key and its raw JSON value in data-value so tests can compare with the API.
function table(columns, rows, opts = {}) {
  rows = rows || [];
  if (!columns) columns = unionKeys(rows);
  const get = (row, c, i) => Array.isArray(row) ? row[i] : row[c];
  const isNum = columns.map((c, i) => rows.some(r => typeof get(r, c, i) === 'number'));
  const head = h('tr', {}, opts.actions ? h('th', { scope: 'col' }, opts.actionsLabel || 'Actions') : null,
    columns.map((c, i) => h('th', { scope: 'col', class: isNum[i] ? 'num' : null }, opts.labels?.[c] ?? c)));
  const body = rows.map((row, ri) => h('tr', { testid: opts.rowTestid, ...(opts.rowAttrs ? opts.rowAttrs(row, ri) : {}) },
    opts.actions ? h('td', {}, opts.actions(row, ri)) : null,
    columns.map((c, i) => {
      const v = get(row, c, i);
      const text = opts.format?.[c] ? opts.format[c](v, row) : (/time|^ts$|started|updated|created/i.test(c) && typeof v !== 'boolean' ? fmtTime(v) : fmt(v));
      return h('td', { class: typeof v === 'number' ? 'num' : null, 'data-key': c, 'data-value': JSON.stringify(v ?? null) }, text);
    })));
  const t = h('table', { testid: opts.testid }, opts.caption ? h('caption', {}, opts.caption) : null, h('thead', {}, head), h('tbody', {}, body));
  return h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': opts.caption || opts.label || 'table' }, t);
}
function unionKeys(rows) {
  const keys = [];
  for (const r of rows || []) if (r && typeof r === 'object' && !Array.isArray(r)) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return keys;
}
// Key/value table of an object, nested objects flattened with dots to `depth`.
function kv(obj, opts = {}) {
  const rows = [];
  const walk = (o, prefix, d) => {
    for (const [k, v] of Object.entries(o || {})) {
      const name = prefix ? prefix + '.' + k : k;
      if (v && typeof v === 'object' && !Array.isArray(v) && d > 0) walk(v, name, d - 1);
      else if (Array.isArray(v) && v.length > 12) rows.push([name, `[${v.length} items]`]);
      else rows.push([name, v]);
    }
  };
  walk(obj, '', opts.depth ?? 2);
  return table(['name', 'value'], rows, { caption: opts.caption, testid: opts.testid });
}

function card(title, ...kids) { return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), kids); }
function figures(obj, keys, testid) {
  return h('div', { class: 'cards', testid }, keys.filter(k => obj && obj[k] !== undefined).map(k =>
    h('div', { class: 'figure', 'data-key': k }, h('div', { class: 'k' }, k), h('div', { class: 'v', 'data-value': JSON.stringify(obj[k]) }, fmt(obj[k])))));
}
function select(id, label, options, value, onchange, testid) {
  return h('div', { class: 'field' }, h('label', { for: id }, label),
    h('select', { id, testid, onchange }, options.map(o => h('option', { value: o, selected: o === value }, o))));
}
function pager(page, pages, go, testid) {
  if (!pages || pages <= 1) return null;
  return h('div', { class: 'pager', testid },
    h('button', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1) }, 'Previous'),
    h('span', {}, `page ${page} of ${pages}`),
    h('button', { type: 'button', disabled: page >= pages, onclick: () => go(page + 1) }, 'Next'));
}
function errorBox(e) { return h('p', { class: 'error', role: 'alert', testid: 'error' }, e.status === 403 ? 'Your role may not see this.' : String(e.message || e)); }

// ---- charts --------------------------------------------------------------------------------

const charts = [];
function destroyCharts() { while (charts.length) { try { charts.pop().destroy(); } catch { /* gone */ } } }

// lineChart(title, x, series {name: values}, opts): a uPlot chart in a card-width box;
// x in seconds when opts.time, else plain numbers.
function lineChart(title, x, series, opts = {}) {
  const box = h('div', { class: 'chart', testid: opts.testid, role: 'img', 'aria-label': title });
  if (!window.uPlot) { box.append(h('p', { class: 'muted' }, 'Charts unavailable (uPlot was not built in).')); return box; }
  const colours = ['#0b5cad', '#c2410c', '#1b7f3b', '#7c3aed', '#b3261e', '#0e7490'];
  const names = Object.keys(series);
  const data = [x, ...names.map(n => series[n].map(v => (typeof v === 'number' && Number.isFinite(v)) ? v : null))];
  const make = () => {
    const width = Math.max(260, box.clientWidth || 600);
    const u = new window.uPlot({
      width, height: opts.height || 220, title: opts.noTitle ? undefined : title,
      scales: { x: { time: !!opts.time } },
      series: [{ label: opts.xLabel || 'x' }, ...names.map((n, i) => ({ label: n, stroke: colours[i % colours.length], width: 1.5, spanGaps: true, fill: opts.fill ? colours[i % colours.length] + '22' : undefined }))],
      // y labels as wide as the longest one (equity in the millions).
      axes: [{}, { size: (self, values) => 16 + 7 * Math.max(4, ...(values || []).map(v => String(v).length)) }],
    }, data, box);
    charts.push(u);
  };
  requestAnimationFrame(make);   // after the box is in the document (its width)
  return box;
}

// Bars of a histogram (edges n+1, counts n) as SVG.
function histogramSvg(edges, counts, testid, label) {
  const W = 600, H = 200, pad = 30;
  const max = Math.max(1, ...counts);
  const bw = (W - pad) / Math.max(1, counts.length);
  return h('svg:svg', { viewBox: `0 0 ${W} ${H + 20}`, class: 'chart', testid, role: 'img', 'aria-label': label },
    counts.map((c, i) => h('svg:rect', { x: pad + i * bw, y: H - (c / max) * (H - 10), width: Math.max(1, bw - 1), height: (c / max) * (H - 10), fill: '#0b5cad' },
      h('svg:title', {}, `${fmt(edges[i])} … ${fmt(edges[i + 1])}: ${c}`))),
    h('svg:text', { x: pad, y: H + 15 }, fmt(edges[0])),
    h('svg:text', { x: W - 4, y: H + 15, 'text-anchor': 'end' }, fmt(edges[edges.length - 1])),
    h('svg:text', { x: 2, y: 12 }, String(max)));
}

// Signed horizontal bar (P&L): negative to the left of the axis, positive to the right.
function signedBar(v, maxAbs) {
  const w = maxAbs > 0 && Number.isFinite(v) ? Math.min(100, Math.abs(v) / maxAbs * 100) : 0;
  const s = h('span', {}); s.style.width = w + '%';
  return h('div', { class: 'hbar', 'aria-hidden': 'true' },
    h('div', { class: 'neg' }, v < 0 ? s : null), h('div', { class: 'pos' }, v >= 0 ? s : null));
}
// Use-to-bound bar of a limit.
function useBar(use, state) {
  const s = h('span', {}); s.style.width = Math.max(0, Math.min(1, Number(use) || 0)) * 100 + '%';
  const cls = /breach|halt|bad/i.test(state || '') || use >= 1 ? 'breach' : /warn/i.test(state || '') || use >= 0.8 ? 'warn' : '';
  return h('div', { class: 'bar ' + cls, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 1, 'aria-valuenow': Number(use) || 0, 'aria-label': 'use of bound ' + pct(use) }, s);
}

// Viridis-like colour scale: t in [0, 1].
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function colour(t) {
  t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
  const c = VIRIDIS[i].map((a, k) => Math.round(a + (VIRIDIS[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// The sweep heatmap: z[iy][ix] over xs x ys, null = no value; the best cell outlined and
// labelled with its value (data-testid best-cell).
function heatmapSvg(hm) {
  const xs = hm.xs || [], ys = hm.ys || [], z = hm.z || [];
  const vals = z.flat().filter(v => typeof v === 'number' && Number.isFinite(v));
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const cw = 60, ch = 34, left = 60, top = 10, legendH = 46;
  const W = left + xs.length * cw + 10, H = top + ys.length * ch + 40 + legendH;
  const kids = [];
  const bx = xs.findIndex(v => String(v) === String(hm.best?.x));
  const by = ys.findIndex(v => String(v) === String(hm.best?.y));
  ys.forEach((yv, iy) => {
    const row = ys.length - 1 - iy;   // larger y at the top
    kids.push(h('svg:text', { x: left - 6, y: top + row * ch + ch / 2 + 4, 'text-anchor': 'end' }, fmt(yv)));
    xs.forEach((xv, ix) => {
      const v = z[iy]?.[ix];
      const ok = typeof v === 'number' && Number.isFinite(v);
      kids.push(h('svg:rect', { x: left + ix * cw, y: top + row * ch, width: cw - 1, height: ch - 1,
        fill: ok ? colour(hi > lo ? (v - lo) / (hi - lo) : 0.5) : '#ccc', 'data-x': xv, 'data-y': yv, 'data-value': JSON.stringify(v ?? null) },
        h('svg:title', {}, `${hm.x}=${xv}, ${hm.y}=${yv}: ${ok ? fmt4(v) : 'no value'}`)));
    });
  });
  xs.forEach((xv, ix) => kids.push(h('svg:text', { x: left + ix * cw + cw / 2, y: top + ys.length * ch + 14, 'text-anchor': 'middle' }, fmt(xv))));
  kids.push(h('svg:text', { x: left + xs.length * cw / 2, y: top + ys.length * ch + 30, 'text-anchor': 'middle' }, hm.x));
  kids.push(h('svg:text', { x: 4, y: top + 10 }, hm.y));
  if (bx >= 0 && by >= 0) {
    const row = ys.length - 1 - by;
    kids.push(h('svg:rect', { class: 'best', x: left + bx * cw + 1.5, y: top + row * ch + 1.5, width: cw - 4, height: ch - 4 }));
    kids.push(h('svg:text', { class: 'bestlabel', testid: 'best-cell', x: left + bx * cw + cw / 2, y: top + row * ch + ch / 2 + 4, 'text-anchor': 'middle' }, fmt4(hm.best.value)));
  }
  // Colour scale: a strip of 20 steps from lo to hi.
  const ly = top + ys.length * ch + 40, lw = Math.max(120, xs.length * cw);
  for (let i = 0; i < 20; i++) kids.push(h('svg:rect', { x: left + i * lw / 20, y: ly, width: lw / 20 + 0.5, height: 12, fill: colour(i / 19) }));
  kids.push(h('svg:text', { x: left, y: ly + 26, testid: 'scale-min' }, fmt4(lo)));
  kids.push(h('svg:text', { x: left + lw, y: ly + 26, 'text-anchor': 'end', testid: 'scale-max' }, fmt4(hi)));
  kids.push(h('svg:text', { x: left + lw / 2, y: ly + 26, 'text-anchor': 'middle' }, hm.metric));
  return h('svg:svg', { viewBox: `0 0 ${Math.max(W, left + lw + 10)} ${H}`, class: 'chart', testid: 'heatmap', role: 'img',
    'aria-label': `${hm.metric} over ${hm.x} and ${hm.y}; best ${fmt4(hm.best?.value)} at ${hm.x}=${hm.best?.x}, ${hm.y}=${hm.best?.y}` }, kids);
}

// ---- pages -------------------------------------------------------------------------------

const NAV = [
  { id: 'runs', label: 'Runs', href: '#/runs', route: ['GET', '/api/runs'] },
  { id: 'registry', label: 'Registry', href: '#/registry', route: ['GET', '/api/models'] },
  { id: 'live', label: 'Live desk', href: '#/live', route: ['GET', '/api/live/state'] },
  { id: 'audit', label: 'Audit log', href: '#/audit', route: ['GET', '/api/audit'] },
];

function renderNav(current) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.replaceChildren();
  who.replaceChildren();
  if (!session || !session.access) return;
  for (const n of NAV) {
    if (!allowed(...n.route)) continue;
    nav.append(h('a', { href: n.href, testid: 'nav-' + n.id, 'aria-current': current === n.id ? 'page' : null }, n.label));
  }
  who.append(h('span', { testid: 'who-user' }, `${session.user} (${(session.roles || []).join(', ')})`),
    h('button', { type: 'button', testid: 'logout', onclick: logout }, 'Log out'));
}

function pageLogin(main) {
  const err = h('p', { class: 'error', role: 'alert', testid: 'login-error' });
  const form = h('form', { class: 'card login', testid: 'login-form', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in'),
    h('div', { class: 'field' }, h('label', { for: 'login-user' }, 'User'),
      h('input', { id: 'login-user', name: 'user', autocomplete: 'username', testid: 'login-user' })),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'),
      h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', testid: 'login-password' })),
    h('p', { class: 'muted' }, 'or'),
    h('div', { class: 'field' }, h('label', { for: 'login-key' }, 'API key'),
      h('input', { id: 'login-key', name: 'key', type: 'password', autocomplete: 'off', testid: 'login-key' })),
    err,
    h('button', { type: 'submit', class: 'primary', testid: 'login-submit' }, 'Log in'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    err.textContent = '';
    const key = form.key.value.trim();
    const body = key ? { key } : { user: form.user.value.trim(), password: form.password.value };
    if (!key && (!body.user || !body.password)) { err.textContent = 'Give a user and a password, or an API key.'; return; }
    try {
      const j = await api('POST', '/api/login', body);
      session = { access: j.access_token, refresh: j.refresh_token, user: j.user, roles: j.roles || [], routes: [] };
      save();
      await loadMe();
      say('');
      const first = NAV.find(n => allowed(...n.route));
      location.hash = first ? first.href : '#/none';
    } catch (e) {
      err.textContent = e.status === 401 || e.status === 403 ? 'Wrong user, password or key.' : String(e.message);
    }
  });
  main.append(form);
  return null;
}

// Runs: list with filters and paging; tick two or more to compare.
async function pageRuns(main, q) {
  const kind = q.get('kind') || '', text = q.get('q') || '', page = Number(q.get('page') || 1);
  const go = (over) => {
    const p = new URLSearchParams({ kind, q: text, page: String(page), ...over });
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    location.hash = '#/runs' + (p.toString() ? '?' + p : '');
  };
  const form = h('form', { class: 'inline', testid: 'runs-filter', role: 'search' },
    select('runs-kind', 'Kind', ['', 'sweep', 'train', 'stress', 'rl'], kind, null, 'runs-filter-kind'),
    h('div', { class: 'field' }, h('label', { for: 'runs-q' }, 'Text'), h('input', { id: 'runs-q', type: 'search', value: text, testid: 'runs-filter-q' })),
    h('button', { type: 'submit', testid: 'runs-filter-apply' }, 'Filter'));
  form.querySelector('option[value=""]').textContent = 'all';
  form.addEventListener('submit', ev => { ev.preventDefault(); go({ kind: form.querySelector('#runs-kind').value, q: form.querySelector('#runs-q').value, page: '1' }); });
  main.append(h('h1', {}, 'Runs'), form);
  const p = new URLSearchParams({ page: String(page), limit: '25' });
  if (kind) p.set('kind', kind);
  if (text) p.set('q', text);
  const j = await api('GET', '/api/runs?' + p);
  const runs = j.runs || [];
  const picked = new Set();
  const cmp = h('button', { type: 'button', class: 'primary', disabled: true, testid: 'compare-button',
    onclick: () => { location.hash = '#/compare?ids=' + [...picked].map(encodeURIComponent).join(','); } }, 'Compare selected');
  const rows = runs.map(r => ({ ...r, headline: r.headline }));
  main.append(h('p', { class: 'muted', testid: 'runs-total' }, `${j.total ?? runs.length} runs`),
    table(['compare', 'id', 'kind', 'status', 'started', 'seconds', 'title', 'headline'], rows, {
      testid: 'runs-table', rowTestid: 'run-row', caption: 'Runs', rowAttrs: r => ({ 'data-id': r.id, 'data-kind': r.kind }),
      format: {
        compare: (_, r) => h('input', { type: 'checkbox', 'aria-label': 'compare ' + r.id, testid: 'compare-' + r.id,
          onchange: ev => { ev.target.checked ? picked.add(r.id) : picked.delete(r.id); cmp.disabled = picked.size < 2; } }),
        id: (v) => h('a', { href: '#/run/' + encodeURIComponent(v), testid: 'run-link' }, v),
        headline: v => Object.entries(v || {}).slice(0, 4).map(([k, x]) => `${k} ${fmt(x)}`).join(' · '),
        seconds: v => fmt(v),
      },
    }),
    pager(j.page || page, j.pages, n => go({ page: String(n) }), 'runs-pager'),
    h('div', { class: 'row' }, cmp));
}

// Compare: runs side by side on their headline figures (rows = figures).
async function pageCompare(main, q) {
  const ids = (q.get('ids') || '').split(',').filter(Boolean);
  main.append(h('h1', {}, 'Compare runs'), h('p', {}, h('a', { href: '#/runs' }, '← Runs')));
  const list = await api('GET', '/api/runs?limit=500');
  const byId = Object.fromEntries((list.runs || []).map(r => [r.id, r]));
  const runs = await Promise.all(ids.map(async id => byId[id] || { id, ...(await api('GET', '/api/runs/' + encodeURIComponent(id))) }));
  const keys = ['kind', 'status', 'started', 'seconds'];
  for (const r of runs) for (const k of Object.keys(r.headline || {})) if (!keys.includes(k)) keys.push(k);
  const rows = keys.map(k => [k, ...runs.map(r => (k in (r.headline || {})) ? r.headline[k] : r[k])]);
  main.append(table(['figure', ...runs.map(r => r.id)], rows, { testid: 'compare-table', caption: 'Headline figures', rowTestid: 'compare-row',
    format: { started: fmtTime } }));
}

async function pageRun(main, id) {
  const d = await api('GET', '/api/runs/' + encodeURIComponent(id));
  const kind = d.kind || d.run?.kind;
  main.setAttribute('data-kind', kind || '');
  main.append(h('p', {}, h('a', { href: '#/runs' }, '← Runs')),
    h('h1', {}, `${kind || 'run'}: ${id}`));
  const enc = encodeURIComponent(id);
  if (kind === 'sweep') await runSweep(main, id, enc, d);
  else if (kind === 'train') await runTrain(main, enc, d);
  else if (kind === 'stress') await runStress(main, enc, d);
  else if (allowed('GET', `/api/runs/${enc}/curves`)) await runTrain(main, enc, d);
  main.append(h('div', { class: 'grid two' },
    card('Summary', h('details', { open: !['sweep', 'train', 'stress'].includes(kind) }, h('summary', {}, 'summary.json'),
      kv(d.summary, { testid: 'summary-table', caption: 'summary' }))),
    card('Run', kv(d.run, { depth: 1, caption: 'run' }),
      d.files ? h('details', {}, h('summary', {}, 'Files'), h('ul', {}, (Array.isArray(d.files) ? d.files : Object.keys(d.files)).map(f => h('li', {}, typeof f === 'string' ? f : (f.name || JSON.stringify(f)))))) : null,
      h('details', {}, h('summary', {}, 'Configuration'), h('pre', { testid: 'config' }, JSON.stringify(d.config, null, 2))))));
}

// Sweep: heatmap over two parameters, top-N table, equity and drawdown of a chosen run.
async function runSweep(main, id, enc, d) {
  const top = await api('GET', `/api/runs/${enc}/top?n=10`);
  const cols = top.columns || unionKeys(top.rows);
  // Parameter names: the resolved config's params.names (or its grid's keys); without
  // them the heatmap's own defaults (the sweep's first two parameters) name them.
  let params = d.config?.params?.names || Object.keys(d.config?.grid || {});
  const nonMetric = new Set(['rank', 'symbol', 'param_index', 'value', 'set', 'index', 'bars', ...params]);
  const metrics = cols.filter(c => !nonMetric.has(c));
  const hmBox = h('div', {});
  const controls = h('form', { class: 'inline', testid: 'heatmap-controls' });
  const hmCard = card('Heatmap', controls, hmBox);
  const eqBox = h('div', {});
  const topRows = top.rows || [];
  const rankOf = (r, i) => (Array.isArray(r) ? r[cols.indexOf('rank')] : r.rank) ?? i + 1;
  let chosen = rankOf(topRows[0] || {}, 0);
  const topCard = card(`Top ${topRows.length} by ${top.rank_by || '—'}`, table(cols, topRows, {
    testid: 'top-table', rowTestid: 'top-row', caption: 'Best parameter sets',
    rowAttrs: (r, i) => ({ 'data-rank': rankOf(r, i) }),
    actionsLabel: 'Chart',
    actions: (r, i) => h('button', { type: 'button', testid: 'show-rank-' + rankOf(r, i), 'aria-pressed': String(rankOf(r, i) === chosen),
      onclick: ev => { chosen = rankOf(r, i); for (const b of topCard.querySelectorAll('[aria-pressed]')) b.setAttribute('aria-pressed', String(b === ev.target)); equity(); } }, 'Show'),
  }));
  main.append(h('div', { class: 'grid two' }, hmCard, topCard), card('Equity and drawdown', eqBox));

  const heat = async (x, y, metric) => {
    const p = new URLSearchParams();
    if (x) p.set('x', x); if (y) p.set('y', y); if (metric) p.set('metric', metric);
    try {
      const hm = await api('GET', `/api/runs/${enc}/heatmap` + (p.toString() ? '?' + p : ''));
      controls.replaceChildren(
        select('hm-x', 'x parameter', params.includes(hm.x) ? params : [hm.x, ...params], hm.x, null, 'heatmap-x'),
        select('hm-y', 'y parameter', params.includes(hm.y) ? params : [hm.y, ...params], hm.y, null, 'heatmap-y'),
        select('hm-metric', 'metric', metrics.includes(hm.metric) ? metrics : [hm.metric, ...metrics], hm.metric, null, 'heatmap-metric'),
        h('button', { type: 'submit' }, 'Show'));
      hmBox.replaceChildren(heatmapSvg(hm),
        h('p', { testid: 'best-caption' }, `Best ${hm.metric}: ${fmt4(hm.best?.value)} at ${hm.x} = ${fmt(hm.best?.x)}, ${hm.y} = ${fmt(hm.best?.y)}`));
    } catch (e) { hmBox.replaceChildren(errorBox(e)); }
  };
  controls.addEventListener('submit', ev => { ev.preventDefault(); heat(controls.querySelector('#hm-x').value, controls.querySelector('#hm-y').value, controls.querySelector('#hm-metric').value); });

  const equity = async () => {
    try {
      const e = await api('GET', `/api/runs/${enc}/equity?rank=${chosen}&kind=runs`);
      const t = (e.time || []).map(v => v / 1e9);
      eqBox.replaceChildren(
        h('p', { testid: 'equity-caption' }, `rank ${chosen}: ${e.symbol ?? ''} ${Object.entries(e.params || {}).map(([k, v]) => `${k}=${fmt(v)}`).join(', ')} — ${fmt(e.value)}`),
        h('div', { class: 'grid two' },
          lineChart('Equity', t, { equity: e.equity || [] }, { time: true, testid: 'equity-chart' }),
          lineChart('Drawdown', t, { drawdown: e.drawdown || [] }, { time: true, testid: 'drawdown-chart', fill: true })));
    } catch (err) { eqBox.replaceChildren(errorBox(err)); }
  };
  // One after the other: both read the sweep's HDF5 file, and qa serve's handlers must not
  // be asked to read HDF5 from two threads at once (libhdf5 is built without thread safety).
  await heat(params.length >= 2 ? params[0] : undefined, params.length >= 2 ? params[1] : undefined, metrics.includes(top.rank_by) ? top.rank_by : undefined);
  await equity();
}

// Training: loss curves (train/val), the IC if the run has one.
async function runTrain(main, enc, d) {
  const c = await api('GET', `/api/runs/${enc}/curves`);
  const rows = c.rows || [];
  const xKey = rows.some(r => r.step !== undefined) ? 'step' : 'epoch';
  const x = rows.map((r, i) => r[xKey] ?? i);
  const keys = unionKeys(rows);
  const loss = {};
  for (const k of keys) if (/loss/i.test(k)) loss[k] = rows.map(r => r[k]);
  const ic = {};
  for (const k of keys) if (/(^|_)ic($|_)|rank_ic/i.test(k)) ic[k] = rows.map(r => r[k]);
  const charts = [card('Loss', lineChart('Loss', x, loss, { testid: 'loss-chart', xLabel: xKey }))];
  if (Object.keys(ic).length) charts.push(card('IC', lineChart('IC', x, ic, { testid: 'ic-chart', xLabel: xKey })));
  main.append(figures(d.summary || {}, Object.keys(d.summary || {}).filter(k => typeof d.summary[k] === 'number').slice(0, 8), 'train-figures'),
    h('div', { class: 'grid two' }, charts),
    h('details', {}, h('summary', {}, `Curve rows (${rows.length})`), table(keys, rows.slice(-50), { testid: 'curves-table', caption: 'last 50 rows' })));
}

// Stress: VaR/ES table, loss histogram, scenarios with P&L bars, contributions, limits.
async function runStress(main, enc) {
  const s = await api('GET', `/api/runs/${enc}/stress`);
  const levels = s.levels || [], methods = s.methods || [];
  const varRows = [];
  methods.forEach((m, mi) => levels.forEach((l, li) => varRows.push([m, l, s.var?.[mi]?.[li], s.es?.[mi]?.[li]])));
  const histBox = h('div', {});
  // histograms: [{method, edges, counts}] (or {method: {edges, counts}}).
  const hist = Array.isArray(s.histograms) ? Object.fromEntries(s.histograms.map(x => [x.method, x])) : (s.histograms || s.histogram || {});
  const histMethods = Object.keys(hist).filter(k => hist[k] && hist[k].counts);
  const showHist = m => histBox.replaceChildren(hist[m] ? histogramSvg(hist[m].edges || [], hist[m].counts || [], 'histogram', `loss histogram, ${m}`) : h('p', { class: 'muted' }, 'No histogram.'));
  const histSel = histMethods.length ? select('hist-method', 'Method', histMethods, histMethods[0], ev => showHist(ev.target.value), 'histogram-method') : null;
  const scen = s.scenarios || [];
  const maxAbs = Math.max(0, ...scen.map(r => Math.abs(r.pnl) || 0));
  const scenCols = unionKeys(scen);
  main.append(h('div', { class: 'grid two' },
    card('VaR and ES', table(['method', 'level', 'var', 'es'], varRows, { testid: 'var-table', rowTestid: 'var-row', caption: 'Value at risk and expected shortfall' })),
    card('Loss histogram', histSel, histBox),
    card('Scenarios', table([...scenCols, 'bar'], scen, { testid: 'scenario-table', rowTestid: 'scenario-row', caption: 'Scenario P&L',
      format: { bar: (_, r) => signedBar(r.pnl, maxAbs) } })),
    card('Contributions', contributions(s.contributions, s.positions, levels)),
    s.limits ? card('Limits', limitsTable(s.limits)) : null,
    s.positions ? card('Positions', table(null, s.positions, { testid: 'stress-positions', caption: 'Book' })) : null));
  if (histMethods.length) showHist(histMethods[0]);
}

// Contributions: {method: {measure: [[level][position]]}} (the stress handler), shown one
// method and measure at a time, positions down, levels across; other shapes generically.
function contributions(c, positions, levels) {
  if (!c || !Object.keys(c).length) return h('p', { class: 'muted' }, 'None.');
  const methods = Object.keys(c);
  const isMatrixSet = o => o && typeof o === 'object' && !Array.isArray(o) && Object.values(o).every(m => Array.isArray(m) && m.every(Array.isArray));
  if (methods.every(m => isMatrixSet(c[m]))) {
    const box = h('div', {});
    const ids = (positions || []).map(p => p.id ?? p.symbol);
    const show = () => {
      const m = box.parentNode.querySelector('#contrib-method').value, k = box.parentNode.querySelector('#contrib-measure').value;
      const mat = c[m]?.[k] || [];
      const n = Math.max(0, ...mat.map(r => r.length));
      const rows = Array.from({ length: n }, (_, i) => [ids[i] ?? String(i), ...mat.map(r => r[i])]);
      box.replaceChildren(table(['position', ...(levels || mat.map((_, i) => String(i))).map(String)], rows, { testid: 'contrib-table', rowTestid: 'contrib-row', caption: `${k} by position (${m}), per level` }));
    };
    const measures = [...new Set(methods.flatMap(m => Object.keys(c[m])))];
    const wrap = h('div', {}, h('form', { class: 'inline' }, select('contrib-method', 'Method', methods, methods[0], show, 'contrib-method'),
      select('contrib-measure', 'Measure', measures, measures[0], show, 'contrib-measure')), box);
    show();
    return wrap;
  }
  if (Array.isArray(c)) return table(null, c, { testid: 'contrib-table', caption: 'Contributions' });
  const vals = Object.values(c);
  if (vals.length && vals.every(v => v && typeof v === 'object' && !Array.isArray(v))) {
    const assets = unionKeys(vals);
    const rows = assets.map(a => ({ asset: a, ...Object.fromEntries(Object.keys(c).map(m => [m, c[m][a]])) }));
    return table(['asset', ...Object.keys(c)], rows, { testid: 'contrib-table', caption: 'Contributions by asset' });
  }
  if (vals.length && vals.every(Array.isArray)) {
    const n = Math.max(...vals.map(v => v.length));
    return table(Object.keys(c), Array.from({ length: n }, (_, i) => Object.fromEntries(Object.keys(c).map(k => [k, c[k][i]]))), { testid: 'contrib-table', caption: 'Contributions' });
  }
  return table(['name', 'value'], Object.entries(c), { testid: 'contrib-table', caption: 'Contributions' });
}

// Limits with use = value / bound (given by the server, or computed from value and
// bound/threshold/max), a bar each.
function limitsTable(limits) {
  const rows = (Array.isArray(limits) ? limits : Object.entries(limits).map(([name, v]) => ({ name, ...v }))).map(r => {
    const bound = r.bound ?? r.threshold ?? r.max;
    const use = r.use ?? (typeof r.value === 'number' && typeof bound === 'number' && bound !== 0 ? Math.abs(r.value / bound) : null);
    return { ...r, use };
  });
  const first = ['name', 'use', 'value', 'bound', 'threshold', 'state'].filter(k => k === 'use' || rows.some(r => k in r));
  const cols = [...first, ...unionKeys(rows).filter(k => !first.includes(k))];
  return table(cols, rows, { testid: 'limits-table', rowTestid: 'limit-row', caption: 'Limits: use of bound',
    format: { use: (v, r) => h('div', { class: 'row' }, useBar(v, r.state), h('span', {}, pct(v))), state: v => h('span', { class: 'badge ' + String(v || '') }, fmt(v)) } });
}

// Registry: models, then one model's versions, aliases and their history, lineage.
async function pageRegistry(main) {
  const j = await api('GET', '/api/models');
  main.append(h('h1', {}, 'Model registry'),
    table(['name', 'versions', 'latest', 'aliases', 'updated'], j.models || [], { testid: 'models-table', rowTestid: 'model-row', caption: 'Models',
      rowAttrs: r => ({ 'data-name': r.name }),
      format: { name: v => h('a', { href: '#/registry/' + encodeURIComponent(v) }, v),
        aliases: v => Object.entries(v || {}).map(([a, ver]) => `${a} → ${ver}`).join(', ') } }));
}

async function pageModel(main, name, version) {
  const enc = encodeURIComponent(name);
  const m = await api('GET', '/api/models/' + enc);
  main.append(h('p', {}, h('a', { href: '#/registry' }, '← Registry')), h('h1', {}, 'Model ' + name));
  const versions = Array.isArray(m.versions) ? m.versions : [];
  const verOf = v => typeof v === 'object' ? (v.version ?? v.v ?? v.id) : v;
  const aliases = m.aliases || {};
  const history = m.alias_history || m.history || m.events || [];
  main.append(h('div', { class: 'grid two' },
    card('Versions', versions.length && typeof versions[0] === 'object'
      ? table(unionKeys(versions).filter(k => !['lineage', 'metrics', 'inputs'].includes(k)), versions, { testid: 'versions-table', rowTestid: 'version-row', caption: 'Versions',
        format: { version: v => h('a', { href: `#/registry/${enc}/${encodeURIComponent(v)}` }, String(v)) } })
      : h('ul', { testid: 'versions-table' }, versions.map(v => h('li', {}, h('a', { href: `#/registry/${enc}/${encodeURIComponent(v)}` }, 'version ' + v))))),
    card('Aliases', table(['alias', 'version'], Object.entries(aliases).map(([a, v]) => ({ alias: a, version: typeof v === 'object' ? verOf(v) : v })), { testid: 'aliases-table', caption: 'Aliases now' }),
      h('h2', {}, 'Alias history'), Array.isArray(history) && history.length ? table(null, history, { testid: 'alias-history', caption: 'Alias changes' }) : h('p', { class: 'muted', testid: 'alias-history' }, 'No changes recorded.'),
      aliasForm(name, versions.map(verOf), aliases))));
  const v = version ?? m.latest ?? verOf(versions[versions.length - 1]);
  if (v !== undefined && allowed('GET', `/api/models/${enc}/versions/${encodeURIComponent(v)}`)) {
    const d = await api('GET', `/api/models/${enc}/versions/${encodeURIComponent(v)}`);
    const lineage = d.lineage;
    main.append(card(`Version ${v}`, lineage ? h('div', { testid: 'lineage' }, h('h2', {}, 'Lineage'), kv(lineage, { depth: 2, caption: 'lineage' })) : null,
      kv(Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'lineage')), { depth: 1, caption: 'version', testid: 'version-detail' })));
  }
}

function aliasForm(name, versions, aliases) {
  const enc = encodeURIComponent(name);
  if (!allowed('POST', `/api/models/${enc}/aliases/{alias}`) && !allowed('POST', `/api/models/${enc}/aliases/champion`)) return null;
  const msg = h('p', { role: 'status', testid: 'alias-result' });
  const f = h('form', { class: 'inline', testid: 'alias-form', 'aria-label': 'Move an alias' },
    h('div', { class: 'field' }, h('label', { for: 'alias-name' }, 'Alias'), h('input', { id: 'alias-name', required: true, value: Object.keys(aliases)[0] || 'champion', testid: 'alias-name' })),
    select('alias-version', 'Version', versions.map(String), String(versions[versions.length - 1]), null, 'alias-version'),
    h('div', { class: 'field' }, h('label', { for: 'alias-why' }, 'Reason'), h('input', { id: 'alias-why', required: true, testid: 'alias-why' })),
    h('button', { type: 'submit', class: 'primary', testid: 'alias-submit' }, 'Move alias'));
  f.addEventListener('submit', async ev => {
    ev.preventDefault();
    const alias = f.querySelector('#alias-name').value.trim(), why = f.querySelector('#alias-why').value.trim();
    const ver = f.querySelector('#alias-version').value;
    try {
      await api('POST', `/api/models/${enc}/aliases/${encodeURIComponent(alias)}`, { version: Number(ver) || ver, why });
      msg.textContent = `${alias} → ${ver}`;
      render();
    } catch (e) { msg.textContent = 'Refused: ' + e.message; }
  });
  return h('div', {}, h('h2', {}, 'Move an alias'), f, msg);
}

// ---- live desk -------------------------------------------------------------------------------

let stream = null;            // AbortController of the SSE reader
function stopStream() { if (stream) { stream.abort(); stream = null; } }

// Reads GET /api/live/stream with fetch (so the Authorization header goes along) and
// calls onSnapshot(json) for each `snapshot` event; reconnects after 2 s when the stream
// ends, refreshes the token once on 401.
function startStream(onSnapshot) {
  stopStream();
  const ctl = new AbortController();
  stream = ctl;
  const run = async () => {
    let refreshed = false;
    while (!ctl.signal.aborted) {
      try {
        const r = await fetch('/api/live/stream', { headers: { Authorization: 'Bearer ' + session.access, Accept: 'text/event-stream' }, signal: ctl.signal });
        if (r.status === 401 && !refreshed) { refreshed = true; if (await refreshToken()) continue; }
        if (!r.ok || !r.body) { await sleep(5000, ctl.signal); continue; }
        refreshed = false;
        const reader = r.body.getReader(), dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i); buf = buf.slice(i + 2);
            let ev = 'message'; const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const c = line.indexOf(':'); const f = c < 0 ? line : line.slice(0, c);
              const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
              if (f === 'event') ev = v; else if (f === 'data') data.push(v);
            }
            if (ev === 'snapshot' && data.length) { try { onSnapshot(JSON.parse(data.join('\n'))); } catch { /* a bad event */ } }
          }
        }
      } catch (e) { if (ctl.signal.aborted) return; }
      await sleep(2000, ctl.signal);
    }
  };
  run();
}
function sleep(ms, signal) { return new Promise(res => { const t = setTimeout(res, ms); signal?.addEventListener('abort', () => { clearTimeout(t); res(); }); }); }

const KILL = [['HALTED', 'HALT', 'Halt: cancel every working order and send nothing new'],
  ['REDUCING', 'REDUCE', 'Reduce: only orders that shrink positions'],
  ['ACTIVE', 'RESUME', 'Resume normal trading']];

async function pageLive(main) {
  main.append(h('h1', {}, 'Live desk'));
  const head = h('div', { testid: 'live-head' });
  const tables = h('div', { class: 'grid two' });
  const chartBox = h('div', {});
  const killMsg = h('p', { role: 'status', testid: 'kill-result' });
  const canKill = allowed('POST', '/api/live/kill');
  const canCancel = allowed('POST', '/api/live/orders/{clordid}/cancel') || allowed('POST', '/api/live/orders/x/cancel');
  const canCancelAll = allowed('POST', '/api/live/cancel-all');
  const controls = [];
  if (canKill) controls.push(card('Kill switch', h('div', { class: 'kill', testid: 'kill-switch' },
    KILL.map(([state, label, what]) => h('button', { type: 'button', class: state === 'ACTIVE' ? 'primary' : 'danger', testid: 'kill-' + state, title: what,
      onclick: async () => {
        const why = await confirmDialog(`${label}: ${what}. Set the trading state to ${state}?`, label);
        if (why === null) return;
        try { await api('POST', '/api/live/kill', { state, why }); killMsg.textContent = `State ${state} requested: ${why}`; refresh(); }
        catch (e) { killMsg.textContent = 'Refused: ' + e.message; }
      } }, label))), killMsg));
  if (canCancelAll) controls.push(card('Orders', h('button', { type: 'button', class: 'danger', testid: 'cancel-all',
    onclick: async () => {
      const why = await confirmDialog('Cancel every open order?', 'Cancel all');
      if (why === null) return;
      try { await api('POST', '/api/live/cancel-all', { why }); killMsg.textContent = 'Cancel-all requested'; refresh(); }
      catch (e) { killMsg.textContent = 'Refused: ' + e.message; }
    } }, 'Cancel all open orders')));
  const blotter = h('div', { class: 'grid two' });
  main.append(head, controls.length ? h('div', { class: 'grid two' }, controls) : null, chartBox, tables, blotter);

  // Equity/P&L history: risk metrics rows if readable, then one point per snapshot.
  const hist = { t: [], equity: [], pnl: [] };
  if (allowed('GET', '/api/risk/metrics')) {
    try {
      const m = await api('GET', '/api/risk/metrics?limit=500');
      const cols = m.columns || [];
      const ti = cols.findIndex(c => /^(time|ts)$/.test(c)), ei = cols.indexOf('equity'), pi = cols.indexOf('pnl');
      if (ti >= 0 && ei >= 0) for (const r of m.rows || []) {
        const row = Array.isArray(r) ? r : cols.map(c => r[c]);
        hist.t.push(secs(row[ti])); hist.equity.push(row[ei]); hist.pnl.push(pi >= 0 ? row[pi] : null);
      }
      const order = hist.t.map((_, i) => i).sort((a, b) => hist.t[a] - hist.t[b]);
      for (const k of Object.keys(hist)) hist[k] = order.map(i => hist[k][i]);
    } catch { /* no history: snapshots only */ }
  }

  let last = 0, timer = null, pending = null;
  const draw = st => {
    last = Date.now();
    if (st.time !== undefined && (hist.t.length === 0 || secs(st.time) > hist.t[hist.t.length - 1])) {
      hist.t.push(secs(st.time)); hist.equity.push(st.equity ?? null); hist.pnl.push(st.pnl ?? null);
    }
    head.replaceChildren(
      h('p', {}, 'State ', h('span', { class: 'badge ' + (st.state || ''), testid: 'live-state' }, st.state || '—'), ' at ',
        h('span', { testid: 'live-time' }, fmtTime(st.time))),
      figures(st, ['equity', 'pnl', 'drawdown', 'gross', 'net', 'var', 'es'], 'live-figures'));
    destroyCharts();
    chartBox.replaceChildren(card('Equity and P&L', h('div', { class: 'grid two' },
      lineChart('Equity', hist.t, { equity: hist.equity }, { time: true, testid: 'live-equity-chart', height: 180 }),
      lineChart('P&L', hist.t, { pnl: hist.pnl }, { time: true, testid: 'live-pnl-chart', height: 180, fill: true }))));
    const positions = st.positions || [];
    const pcols = ['symbol', 'shares', 'avg_price', 'market_value', ...unionKeys(positions).filter(k => !['symbol', 'shares', 'avg_price', 'market_value'].includes(k))];
    const ocols = unionKeys(st.open_orders || []);
    tables.replaceChildren(
      card('Positions', table(pcols, positions, { testid: 'positions-table', rowTestid: 'position-row', caption: `${positions.length} positions`, rowAttrs: r => ({ 'data-symbol': r.symbol }) })),
      card('Risk limits', limitsTable(st.limits || [])),
      card('Open orders', table(ocols.length ? ocols : ['clordid', 'symbol', 'side', 'qty', 'state'], st.open_orders || [], { testid: 'open-orders-table', rowTestid: 'open-order-row', caption: 'Working orders',
        actions: canCancel ? (o => h('button', { type: 'button', testid: 'cancel-order', 'aria-label': 'cancel ' + o.clordid,
          onclick: async () => {
            const why = await confirmDialog(`Cancel order ${o.clordid}?`, 'Cancel order');
            if (why === null) return;
            try { await api('POST', `/api/live/orders/${encodeURIComponent(o.clordid)}/cancel`, { why }); killMsg.textContent = 'Cancel requested: ' + o.clordid; refresh(); }
            catch (e) { killMsg.textContent = 'Refused: ' + e.message; }
          } }, 'Cancel')) : null })),
      card('Alerts', h('ul', { class: 'plain alerts', testid: 'alerts-list' }, (st.alerts || []).slice(0, 20).map(a => h('li', {},
        typeof a === 'object' ? [h('span', { class: 'badge ' + (a.severity || '') }, a.severity || a.kind || 'alert'), ' ', fmtTime(a.time), ' ', a.message || a.text || a.detail || JSON.stringify(a)] : String(a))))),
      card('Commands', table(null, st.commands || [], { testid: 'commands-table', rowTestid: 'command-row', caption: 'Kill-switch and desk commands' })));
  };
  // Stream snapshots are compact (no positions or limits): a change fetches the full state,
  // at most once a second.
  const onSnap = st => {
    pending = st;
    if (timer) return;
    const wait = Math.max(0, 1000 - (Date.now() - last));
    timer = setTimeout(async () => {
      const snap = pending; pending = null;
      if (!snap || !main.isConnected) { timer = null; return; }
      try { draw(Array.isArray(snap.positions) ? snap : await api('GET', '/api/live/state')); } catch (e) { say(e.message, true); }
      timer = null;
    }, wait);
  };
  const refresh = async () => { try { onSnap(await api('GET', '/api/live/state')); } catch (e) { say(e.message, true); } };

  const st = await api('GET', '/api/live/state');
  draw(st);
  const blot = async (what, label, page) => {
    if (!allowed('GET', '/api/' + what)) return null;
    const box = h('div', {});
    const load = async p => {
      const j = await api('GET', `/api/${what}?page=${p}&limit=20`);
      box.replaceChildren(table(j.columns, j.rows, { testid: what + '-table', rowTestid: what.slice(0, -1) + '-row', caption: `${label}: ${fmt(j.total)} in all` }));
      const pg = pager(j.page || p, j.pages, load, what + '-pager');
      if (pg) box.append(pg);
    };
    await load(page);
    return card(label, box);
  };
  blotter.append(...(await Promise.all([blot('orders', 'Orders', 1), blot('fills', 'Fills', 1)])).filter(Boolean));
  if (allowed('GET', '/api/live/stream')) startStream(onSnap);
}
function secs(t) { return typeof t === 'number' ? (t > 1e17 ? t / 1e9 : t > 1e11 ? t / 1e3 : t) : Date.parse(t) / 1000; }

// The confirmation dialog: resolves to the reason given, or null when cancelled.
function confirmDialog(text, okLabel) {
  const dlg = document.getElementById('confirm');
  const form = document.getElementById('confirm-form');
  const reason = document.getElementById('confirm-reason');
  const err = document.getElementById('confirm-error');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
  reason.value = ''; err.textContent = '';
  return new Promise(resolve => {
    const done = v => { form.removeEventListener('submit', onSubmit); cancelBtn.removeEventListener('click', onCancel); dlg.removeEventListener('cancel', onCancel); if (dlg.open) dlg.close(); resolve(v); };
    const onSubmit = ev => { ev.preventDefault(); const why = reason.value.trim(); if (!why) { err.textContent = 'A reason is required.'; reason.focus(); return; } done(why); };
    const onCancel = ev => { ev.preventDefault(); done(null); };
    const cancelBtn = document.getElementById('confirm-cancel');
    form.addEventListener('submit', onSubmit);
    cancelBtn.addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    reason.focus();
  });
}

// Audit log (admin): pages of rows, and the hash-chain check.
async function pageAudit(main, q) {
  const page = Number(q.get('page') || 1);
  const j = await api('GET', `/api/audit?page=${page}&limit=50`);
  const pages = j.pages ?? Math.max(1, Math.ceil((j.total || 0) / 50));
  const res = h('p', { role: 'status', testid: 'audit-verify-result' });
  main.append(h('h1', {}, 'Audit log'),
    allowed('GET', '/api/audit/verify') ? h('div', { class: 'row' }, h('button', { type: 'button', testid: 'audit-verify', onclick: async () => {
      try {
        const v = await api('GET', '/api/audit/verify');
        res.textContent = v.ok ? `Chain intact: ${fmt(v.rows)} rows.` : `Chain broken at ${v.first_bad}: ${v.detail || ''}`;
        res.className = v.ok ? 'badge ok' : 'badge bad';
      } catch (e) { res.textContent = e.message; }
    } }, 'Verify the chain'), res) : null,
    table(j.columns, j.rows, { testid: 'audit-table', rowTestid: 'audit-row', caption: `${fmt(j.total)} entries, newest first` }),
    pager(page, pages, n => { location.hash = '#/audit?page=' + n; }, 'audit-pager'));
}

// ---- router ----------------------------------------------------------------------------

// route: [pattern, nav id, API route that must be allowed, page function]
const ROUTES = [
  [/^\/runs$/, 'runs', ['GET', '/api/runs'], (m, q) => pageRuns(m, q)],
  [/^\/compare$/, 'runs', ['GET', '/api/runs'], (m, q) => pageCompare(m, q)],
  [/^\/run\/([^/]+)$/, 'runs', ['GET', '/api/runs/{id}'], (m, q, a) => pageRun(m, a[0])],
  [/^\/registry$/, 'registry', ['GET', '/api/models'], m => pageRegistry(m)],
  [/^\/registry\/([^/]+)(?:\/([^/]+))?$/, 'registry', ['GET', '/api/models/{name}'], (m, q, a) => pageModel(m, a[0], a[1])],
  [/^\/live$/, 'live', ['GET', '/api/live/state'], m => pageLive(m)],
  [/^\/audit$/, 'audit', ['GET', '/api/audit'], (m, q) => pageAudit(m, q)],
];

let generation = 0;
async function render() {
  const gen = ++generation;
  stopStream();
  destroyCharts();
  const main = document.getElementById('main');
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  const q = new URLSearchParams(qs || '');
  main.replaceChildren();
  main.removeAttribute('data-ready');
  main.removeAttribute('data-kind');
  if (!session || !session.access || path === '/login') {
    if (session && session.access && path === '/login') { location.hash = '#/runs'; return; }
    renderNav(null);
    main.setAttribute('data-page', 'login');
    pageLogin(main);
    main.setAttribute('data-ready', '1');
    return;
  }
  if (!routeTable.length) {
    try { await loadMe(); } catch (e) { if (e.status !== 401) say(e.message, true); return; }
    if (gen !== generation) return;
  }
  let found = null;
  for (const [re, nav, route, fn] of ROUTES) {
    const m = re.exec(path);
    if (m) { found = { nav, route, fn, args: m.slice(1).map(s => s === undefined ? undefined : decodeURIComponent(s)) }; break; }
  }
  if (!found) {
    const first = NAV.find(n => allowed(...n.route));
    if (first && path !== '/none') { location.hash = first.href; return; }
    renderNav(null);
    main.setAttribute('data-page', 'none');
    main.append(h('h1', {}, 'Nothing to show'), h('p', {}, 'Your role may not use any page of the dashboard.'));
    main.setAttribute('data-ready', '1');
    return;
  }
  renderNav(found.nav);
  main.setAttribute('data-page', found.nav + (path.startsWith('/run/') ? '-run' : path.startsWith('/compare') ? '-compare' : /^\/registry\/./.test(path) ? '-model' : ''));
  if (!allowed(...found.route)) {
    main.append(h('h1', {}, 'Not allowed'), h('p', { testid: 'forbidden' }, 'Your role may not see this page.'));
    main.setAttribute('data-ready', '1');
    return;
  }
  try {
    say('');
    await found.fn(main, q, found.args);
  } catch (e) {
    if (gen !== generation) return;
    if (e.status === 401) return;
    main.append(errorBox(e));
  }
  if (gen !== generation) return;
  main.setAttribute('data-ready', '1');
}

window.addEventListener('hashchange', () => { render().then(() => document.getElementById('main').focus({ preventScroll: true })); });
document.getElementById('confirm-reason').setAttribute('aria-describedby', 'confirm-text');
setRoutes();
render();
