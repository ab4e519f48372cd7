// The dashboard in a real browser (docs/dashboard.md "Browser test"): Debian's chromium,
// headless, driven by playwright-core (dashboard/package-lock.json, installed by the
// build under <build>/dashboard/node_modules). Run by test_dashboard.sh against a
// `qa serve` over tests/api/fixture.sh; for each role it logs in through the form and
// opens every page the role may see at a phone (390x844) and a desktop (1440x900)
// viewport, and checks:
//   - the nav shows exactly the pages whose API route GET /api/me lists for the role;
//   - what the page shows equals the API's JSON, fetched here with the role's token and
//     formatted here by the dashboard's stated rules (docs/dashboard.md "Numbers");
//   - no console errors and no uncaught exceptions on any page;
//   - the kill switch as trader (confirmation dialog, reason required) lands in the audit
//     log (user trader, outcome 202) and in /api/live/state commands; as researcher the
//     buttons are absent and a direct POST answers 403;
//   - the login form and the nav links are reachable with the keyboard alone, with a
//     visible focus ring;
// and saves a screenshot of every page x viewport under $QA_ARTIFACTS.
// Environment: QA_BASE_URL, QA_USERS (role=user:password,...), QA_NODE_MODULES (the
// folder holding node_modules/playwright-core), QA_ARTIFACTS, CHROMIUM (default
// /usr/bin/chromium). Exit 0 pass, 1 fail.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const BASE = process.env.QA_BASE_URL;
const ART = process.env.QA_ARTIFACTS || 'artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const require = createRequire(path.resolve(process.env.QA_NODE_MODULES || '.', 'package.json'));
const { chromium } = require('playwright-core');
fs.mkdirSync(ART, { recursive: true });

const USERS = {};   // role -> {user, password}
for (const item of (process.env.QA_USERS || '').split(',').filter(Boolean)) {
  const [role, rest] = item.split('=');
  const i = rest.indexOf(':');
  USERS[role] = { user: rest.slice(0, i), password: rest.slice(i + 1) };
}
const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1440, height: 900 } };
// The nav entries and the API route each one needs (the contract of docs/dashboard.md).
const NAV = { runs: ['GET', '/api/runs'], registry: ['GET', '/api/models'], live: ['GET', '/api/live/state'], audit: ['GET', '/api/audit'] };
const T0 = Date.now();

let failures = 0, passes = 0;
const ok = m => { passes++; console.log('ok: ' + m); };
const ko = m => { failures++; console.log('FAIL: ' + m); };
const check = (cond, m) => (cond ? ok(m) : ko(m));

// The dashboard's number rules, written again here: integers with en-US thousands
// separators; heatmap values with 4 decimals.
const fmtInt = v => v.toLocaleString('en-US');
const fmt4 = v => v.toFixed(4);

async function api(token, method, p, body) {
  const r = await fetch(BASE + p, { method, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json };
}
const tokens = {};
async function login(role) {
  return tokens[role] ??= await loginNow(role);
}
async function loginNow(role) {
  const r = await fetch(BASE + '/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(USERS[role]) });
  if (r.status !== 200) throw new Error(`login ${role}: HTTP ${r.status}`);
  return (await r.json()).access_token;
}
const mayUse = (me, method, p) => me.routes.some(r => r.method === method && r.path === p);

async function ready(page) {
  await page.waitForSelector('main[data-ready="1"]', { timeout: 15000 });
}
async function go(page, hash) {
  await page.evaluate(h => { location.hash = h; }, hash);
  await page.waitForFunction(h => location.hash === h, hash);
  await ready(page);
}
async function shot(page, name) {
  await page.waitForTimeout(250);   // charts draw on the next animation frame
  await page.screenshot({ path: path.join(ART, name + '.png'), fullPage: true });
}
const cells = async (page, rowSel, key) => page.$$eval(`${rowSel} td[data-key="${key}"]`, tds => tds.map(td => ({ text: td.textContent, value: JSON.parse(td.getAttribute('data-value')) })));

async function rolePages(browser, role, vp) {
  const token = await login(role);
  const me = (await api(token, 'GET', '/api/me')).json;
  const ctx = await browser.newContext({ viewport: VIEWPORTS[vp], deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  const errors = [];
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  const tag = `${role}/${vp}`;
  const settle = (what) => { if (errors.length) ko(`${tag} ${what}: console errors: ${errors.splice(0).join(' | ')}`); };

  await page.goto(BASE + '/');
  await ready(page);
  await shot(page, `login-${vp}`);
  await page.fill('[data-testid=login-user]', USERS[role].user);
  await page.fill('[data-testid=login-password]', USERS[role].password);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('main[data-ready="1"]:not([data-page="login"])', { timeout: 15000 });

  // Nav: exactly the pages whose route is listed for the role.
  const nav = await page.$$eval('#nav a', as => as.map(a => a.getAttribute('data-testid')));
  const want = Object.entries(NAV).filter(([, r]) => mayUse(me, ...r)).map(([k]) => 'nav-' + k);
  check(JSON.stringify(nav) === JSON.stringify(want), `${tag}: nav ${nav.join(',')} = routes allowed (${want.join(',')})`);

  // Runs: the table lists the API's first page.
  const runs = (await api(token, 'GET', '/api/runs?page=1&limit=25')).json;
  await go(page, '#/runs');
  const ids = await page.$$eval('[data-testid=run-row]', trs => trs.map(t => t.getAttribute('data-id')));
  check(JSON.stringify(ids) === JSON.stringify(runs.runs.map(r => r.id)), `${tag}: runs table = /api/runs (${ids.length} runs)`);
  await shot(page, `${role}-runs-${vp}`);
  settle('runs');

  const byKind = k => runs.runs.find(r => r.kind === k);
  const sweep = byKind('sweep'), train = byKind('train'), stress = byKind('stress');

  // Compare two runs through the check boxes.
  if (sweep && train) {
    await page.check(`[data-testid="compare-${sweep.id}"]`);
    await page.check(`[data-testid="compare-${train.id}"]`);
    await page.click('[data-testid=compare-button]');
    await page.waitForSelector('main[data-page="runs-compare"][data-ready="1"]');
    const heads = await page.$$eval('[data-testid=compare-table] th', ths => ths.map(t => t.textContent));
    check(heads.includes(sweep.id) && heads.includes(train.id), `${tag}: compare shows both runs side by side`);
    const first = Object.keys(sweep.headline || {}).find(k => typeof sweep.headline[k] === 'number');
    if (first) {
      const row = await page.$$eval('[data-testid=compare-row]', (trs, k) => trs.filter(t => t.querySelector('td').textContent === k).map(t => [...t.querySelectorAll('td')].map(td => JSON.parse(td.getAttribute('data-value')))), first);
      check(row.length === 1 && row[0][heads.indexOf(sweep.id)] === sweep.headline[first], `${tag}: compare row ${first} = the sweep's headline ${sweep.headline[first]}`);
    }
    await shot(page, `${role}-compare-${vp}`);
    settle('compare');
  }

  // Sweep: best cell = /heatmap best.value, top table = /top rows, equity chart drawn.
  if (sweep) {
    const enc = encodeURIComponent(sweep.id);
    const hm = (await api(token, 'GET', `/api/runs/${enc}/heatmap`)).json;
    const top = (await api(token, 'GET', `/api/runs/${enc}/top?n=10`)).json;
    await go(page, '#/run/' + enc);
    await page.waitForSelector('[data-testid=best-cell]');
    const best = await page.textContent('[data-testid=best-cell]');
    check(hm.best && best === fmt4(hm.best.value), `${tag}: heatmap best cell "${best}" = /heatmap best.value ${hm.best && hm.best.value}`);
    const ncells = await page.$$eval('[data-testid=heatmap] rect[data-x]', r => r.length);
    check(ncells === hm.xs.length * hm.ys.length, `${tag}: heatmap has ${hm.xs.length} x ${hm.ys.length} cells`);
    const ntop = await page.$$eval('[data-testid=top-row]', r => r.length);
    check(ntop === top.rows.length, `${tag}: top table has /top's ${top.rows.length} rows`);
    await page.waitForSelector('[data-testid=equity-chart] canvas', { timeout: 10000 }).then(() => ok(`${tag}: equity chart drawn`), () => ko(`${tag}: no equity chart`));
    await page.waitForSelector('[data-testid=drawdown-chart] canvas', { timeout: 5000 }).then(() => ok(`${tag}: drawdown chart drawn`), () => ko(`${tag}: no drawdown chart`));
    await shot(page, `${role}-sweep-${vp}`);
    settle('sweep');
  }
  if (train) {
    const c = (await api(token, 'GET', `/api/runs/${encodeURIComponent(train.id)}/curves`)).json;
    await go(page, '#/run/' + encodeURIComponent(train.id));
    await page.waitForSelector('[data-testid=loss-chart] canvas', { timeout: 10000 }).then(() => ok(`${tag}: loss chart drawn`), () => ko(`${tag}: no loss chart`));
    check(c.rows.length > 0, `${tag}: /curves has ${c.rows.length} rows`);
    await shot(page, `${role}-train-${vp}`);
    settle('train');
  }
  if (stress) {
    const s = (await api(token, 'GET', `/api/runs/${encodeURIComponent(stress.id)}/stress`)).json;
    await go(page, '#/run/' + encodeURIComponent(stress.id));
    const vars = await cells(page, '[data-testid=var-row]', 'var');
    const want = s.methods.flatMap((m, mi) => s.levels.map((l, li) => s.var[mi][li]));
    check(JSON.stringify(vars.map(v => v.value)) === JSON.stringify(want), `${tag}: VaR table = /stress var (${want.length} cells)`);
    const scen = await cells(page, '[data-testid=scenario-row]', 'name');
    check(JSON.stringify(scen.map(v => v.text)) === JSON.stringify(s.scenarios.map(x => x.name)), `${tag}: scenario table = /stress scenarios (${scen.length})`);
    if ((s.histograms || []).length) check(await page.$('[data-testid=histogram] rect') !== null, `${tag}: loss histogram drawn`);
    await shot(page, `${role}-stress-${vp}`);
    settle('stress');
  }

  // Registry.
  if (mayUse(me, 'GET', '/api/models')) {
    const models = (await api(token, 'GET', '/api/models')).json.models;
    await go(page, '#/registry');
    const names = await page.$$eval('[data-testid=model-row]', trs => trs.map(t => t.getAttribute('data-name')));
    check(JSON.stringify(names) === JSON.stringify(models.map(m => m.name)), `${tag}: models table = /api/models (${names.join(',')})`);
    await shot(page, `${role}-registry-${vp}`);
    if (models.length) {
      await go(page, '#/registry/' + encodeURIComponent(models[0].name));
      const form = await page.$('[data-testid=alias-form]');
      const can = mayUse(me, 'POST', '/api/models/{name}/aliases/{alias}');
      check(!!form === can, `${tag}: alias form ${can ? 'shown' : 'absent'}`);
      await shot(page, `${role}-model-${vp}`);
      if (form && role === 'researcher' && vp === 'desktop') {
        // Move a "staging" alias through the form: the registry resolves it, the audit has it.
        const why = 'browser test alias ' + T0;
        const alias = 'ui' + String(T0).replace(/[^0-9a-z]/gi, '');  // new each run: nothing else moved it
        await page.fill('[data-testid=alias-name]', alias);
        await page.fill('[data-testid=alias-why]', why);
        await page.click('[data-testid=alias-submit]');
        const m = models[0].name;
        let aliases = {};
        for (let i = 0; i < 50 && aliases[alias] === undefined; i++) {
          aliases = ((await api(token, 'GET', '/api/models')).json.models.find(x => x.name === m) || {}).aliases || {};
          if (aliases[alias] === undefined) await new Promise(r => setTimeout(r, 100));
        }
        check(aliases[alias] !== undefined, `${tag}: the alias form set ${m}@${alias} (${JSON.stringify(aliases)})`);
      }
    }
    settle('registry');
  }

  // Live desk: positions = /api/live/state; kill switch only where the route is listed.
  if (mayUse(me, 'GET', '/api/live/state')) {
    const st = (await api(token, 'GET', '/api/live/state')).json;
    await go(page, '#/live');
    const sym = await page.$$eval('[data-testid=position-row]', trs => trs.map(t => t.getAttribute('data-symbol')));
    check(JSON.stringify(sym) === JSON.stringify(st.positions.map(p => p.symbol)), `${tag}: positions rows = /api/live/state positions (${sym.length})`);
    const shares = await cells(page, '[data-testid=position-row]', 'shares');
    check(shares.every((c, i) => c.value === st.positions[i].shares && c.text === (Number.isInteger(c.value) ? fmtInt(c.value) : c.text)),
      `${tag}: positions shares equal the API's and are formatted as integers`);
    check(await page.textContent('[data-testid=live-state]') === st.state, `${tag}: desk state ${st.state}`);
    const kill = await page.$('[data-testid=kill-HALTED]');
    check(!!kill === mayUse(me, 'POST', '/api/live/kill'), `${tag}: kill switch ${kill ? 'shown' : 'absent'}, as /api/me says`);
    await shot(page, `${role}-live-${vp}`);
    settle('live');
  } else {
    await go(page, '#/live');
    check(await page.$('[data-testid=forbidden]') !== null && await page.$('[data-testid=kill-HALTED]') === null,
      `${tag}: #/live says not allowed and shows no kill switch`);
    settle('live (forbidden)');
  }

  if (mayUse(me, 'GET', '/api/audit')) {
    const a = (await api(token, 'GET', '/api/audit?page=1&limit=50')).json;
    await go(page, '#/audit');
    const heads = await page.$$eval('[data-testid=audit-table] thead th', ths => ths.map(t => t.textContent));
    check(JSON.stringify(heads) === JSON.stringify(a.columns), `${tag}: audit table columns = /api/audit columns`);
    await page.click('[data-testid=audit-verify]');
    await page.waitForFunction(() => document.querySelector('[data-testid=audit-verify-result]').textContent !== '');
    check(/intact/.test(await page.textContent('[data-testid=audit-verify-result]')), `${tag}: audit chain verified intact`);
    await shot(page, `${role}-audit-${vp}`);
    settle('audit');
  }
  await ctx.close();
}

// Kill switch as trader through the dialog; audit and commands checked as admin.
async function killSwitch(browser) {
  const ctx = await browser.newContext({ viewport: VIEWPORTS.desktop });
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(BASE + '/');
  await ready(page);
  await page.fill('[data-testid=login-user]', USERS.trader.user);
  await page.fill('[data-testid=login-password]', USERS.trader.password);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('main[data-ready="1"]:not([data-page="login"])');
  await go(page, '#/live');
  await page.click('[data-testid=kill-HALTED]');
  await page.waitForSelector('[data-testid=confirm-dialog][open]');
  await page.click('[data-testid=confirm-ok]');   // no reason: refused in the dialog
  check(await page.$('[data-testid=confirm-dialog][open]') !== null, 'kill: the dialog stays open without a reason');
  const why = 'browser test halt ' + T0;
  await page.fill('[data-testid=confirm-reason]', why);
  await shot(page, 'trader-kill-dialog-desktop');
  await page.click('[data-testid=confirm-ok]');
  await page.waitForFunction(() => /HALTED/.test(document.querySelector('[data-testid=kill-result]').textContent), null, { timeout: 10000 })
    .then(() => ok('kill: HALTED requested from the dialog'), () => ko('kill: no confirmation on the page'));
  const admin = await login('admin');
  const a = (await api(admin, 'GET', '/api/audit?page=1&limit=50')).json;
  const col = n => a.columns.indexOf(n);
  const rows = (a.rows || []).map(r => Array.isArray(r) ? Object.fromEntries(a.columns.map((c, i) => [c, r[i]])) : r);
  const hit = rows.find(r => String(r.path || r.route || '').includes('/api/live/kill') && r.user === USERS.trader.user);
  // The HTTP outcome is the row's "code" ("outcome" says ok/refused/error in words).
  check(col('user') >= 0 && hit && Number(hit.code ?? hit.status ?? hit.outcome) === 202 && JSON.stringify(hit).includes(why),
    `kill: audit log has POST /api/live/kill by ${USERS.trader.user}, HTTP 202, with the reason (${hit ? JSON.stringify(hit) : 'none'})`);
  const trader = await login('trader');
  const st = (await api(trader, 'GET', '/api/live/state')).json;
  const cmd = (st.commands || []).find(c => JSON.stringify(c).includes(why));
  check(cmd && JSON.stringify(cmd).includes('HALTED'), `kill: /api/live/state commands holds it (${cmd ? JSON.stringify(cmd) : 'none'})`);
  // Back to ACTIVE so later runs see the fixture as it was: sent from outside the page, so
  // the open page can only learn of it through the event stream (snapshot -> state).
  const resume = 'browser test: resume ' + T0;
  const back = await api(trader, 'POST', '/api/live/kill', { state: 'ACTIVE', why: resume });
  check(back.status === 202, `kill: RESUME through the API answers 202 (${back.status})`);
  await page.waitForFunction(w => (document.querySelector('[data-testid=commands-table]') || {}).textContent?.includes(w),
    resume, { timeout: 8000 })
    .then(() => ok('stream: a command queued elsewhere appears on the open desk page without a reload'),
          () => ko('stream: the open desk page did not show a command queued elsewhere within 8 s'));
  // Cancel all open orders through its button and dialog: queued (202) and audited.
  const cwhy = 'browser test cancel-all ' + T0;
  await page.click('[data-testid=cancel-all]');
  await page.waitForSelector('[data-testid=confirm-dialog][open]');
  await page.fill('[data-testid=confirm-reason]', cwhy);
  await page.click('[data-testid=confirm-ok]');
  await page.waitForFunction(() => /Cancel-all requested/.test(document.querySelector('[data-testid=kill-result]').textContent),
    null, { timeout: 10000 })
    .then(() => ok('cancel-all: requested from its dialog'), () => ko('cancel-all: no confirmation on the page'));
  const a2 = (await api(admin, 'GET', '/api/audit?page=1&limit=50')).json;
  const rows2 = (a2.rows || []).map(r => Object.fromEntries(a2.columns.map((c, i) => [c, r[i]])));
  check(rows2.some(r => r.path === '/api/live/cancel-all' && r.user === USERS.trader.user && Number(r.code) === 202 &&
    String(r.detail).includes(cwhy)), 'cancel-all: the audit log has it by the trader, 202, with the reason');
  check(errors.length === 0, `kill: no console errors (${errors.join(' | ')})`);
  await ctx.close();

  const res = await login('researcher');
  const r = await api(res, 'POST', '/api/live/kill', { state: 'HALTED', why: 'not allowed' });
  check(r.status === 403, `kill: researcher's direct POST answers ${r.status} (403) ${JSON.stringify(r.json)}`);
}

// Keyboard only: Tab to the login fields and button, log in with Enter, Tab to every nav link.
async function keyboard(browser) {
  const ctx = await browser.newContext({ viewport: VIEWPORTS.desktop });
  const page = await ctx.newPage();
  await page.goto(BASE + '/');
  await ready(page);
  const focused = () => page.evaluate(() => {
    const e = document.activeElement;
    const cs = getComputedStyle(e);
    return { id: e.getAttribute('data-testid'), outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 };
  });
  const seen = {};
  for (let i = 0; i < 12 && !seen['login-submit']; i++) {
    await page.keyboard.press('Tab');
    const f = await focused();
    if (f.id) seen[f.id] = f.outline;
    if (f.id === 'login-user') await page.keyboard.type(USERS.admin.user);
    if (f.id === 'login-password') await page.keyboard.type(USERS.admin.password);
  }
  for (const id of ['login-user', 'login-password', 'login-submit'])
    check(id in seen && seen[id], `keyboard: Tab reaches ${id} with a visible focus ring`);
  await page.keyboard.press('Enter');
  await page.waitForSelector('main[data-ready="1"]:not([data-page="login"])', { timeout: 10000 });
  // From the top of the page (a reload keeps the session): skip link, then the nav.
  await page.reload();
  await ready(page);
  const navSeen = new Set();
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    const f = await focused();
    if (f.id && f.id.startsWith('nav-') && f.outline) navSeen.add(f.id);
    if (process.env.QA_DEBUG) console.log('focus', JSON.stringify(f));
    if (f.id === 'logout') break;
  }
  const want = ['nav-runs', 'nav-registry', 'nav-live', 'nav-audit'];
  check(want.every(id => navSeen.has(id)), `keyboard: Tab reaches every nav link with a focus ring (${[...navSeen].join(',')})`);
  // Enter on a focused nav link opens its page.
  await page.focus('[data-testid=nav-registry]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('main[data-page="registry"][data-ready="1"]', { timeout: 10000 })
    .then(() => ok('keyboard: Enter on a nav link opens its page'), () => ko('keyboard: Enter on nav-registry'));
  await ctx.close();
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  for (const role of ['researcher', 'risk', 'trader', 'admin'])
    for (const vp of Object.keys(VIEWPORTS))
      await rolePages(browser, role, vp).catch(e => ko(`${role}/${vp}: ${e.message.split('\n')[0]}`));
  await killSwitch(browser).catch(e => ko('kill switch: ' + e.message.split('\n')[0]));
  await keyboard(browser).catch(e => ko('keyboard: ' + e.message.split('\n')[0]));
} finally {
  await browser.close();
}
console.log(`${passes} passed, ${failures} failed, ${((Date.now() - T0) / 1000).toFixed(1)} s; screenshots in ${ART}`);
process.exit(failures ? 1 : 0);
