// The browser test: a person connects a TAPD workspace to Tencent Docs on `make run`'s
// stack (devstack on a free port, its own data directory), in headless Chromium driven
// by Playwright; then a story::create webhook produces a doc, which opens in the browser.
// Then the workspace is connected to another account: the confirmation page, clicked
// through in the same browser, and refused from another browser (a fresh context).
// Last, the walk a person takes, in Chinese (walkInChinese): connect, create a story through
// the TAPD sandbox's form, see the comment linking its doc, open the doc, follow its link
// back, move the story to 开发中 and then 已实现 through its page's form and see the doc's card
// follow and the doc land in 已完成 (walkTheStoryToDone); screenshots of each step in
// .local/browser/, and CJK text must render.
//
// Run through tests/browser/run.sh (installs Chromium and playwright-core, builds devstack).
// Environment: DEVSTACK_BIN (default target/debug/devstack), CHROMIUM (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEVSTACK = process.env.DEVSTACK_BIN || join(ROOT, 'target/debug/devstack');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The flags Chromium needs here (toolchain.md); Playwright adds --headless and a fresh profile is ours.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const WORKSPACE = '20000001';
const OPEN_ID = '0123456789abcdef0123456789abcdef';
const OTHER_OPEN_ID = 'fedcba9876543210fedcba9876543210';
const OTHER_NICK = 'Second owner';
const COOKIE = '__Host-tapd-docs-connect';
// The TAPD sandbox's seeded users: an admin of every workspace, and a plain member (developer).
const ADMIN_USER_ID = '1000142421';
const MEMBER_USER_ID = '1000142422';
const TOTAL_MS = 210_000;
// The walk's screenshots, kept as test artifacts.
const SHOTS = join(ROOT, '.local/browser');
// The console's screenshots in the docs (README, docs/operations.md): rewritten only when
// UPDATE_DOCS_SHOTS=1 (`UPDATE_DOCS_SHOTS=1 bash tests/browser/run.sh`).
const DOCS = join(ROOT, 'docs');
async function docShot(page, name, fullPage = false) {
  if (process.env.UPDATE_DOCS_SHOTS !== '1') return;
  await page.screenshot({ path: join(DOCS, `${name}.png`), fullPage });
  step(`screenshot docs/${name}.png`);
}

const started = Date.now();
let running = null; // the devstack child, for the overall timeout
function step(what) {
  console.log(`browser test [${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

async function until(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function parseEnv(text) {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#') && l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

// Presses 授权 on a consent page and waits for the redirect to `path`.
async function pressAuthorize(page, path) {
  await Promise.all([page.waitForURL((u) => u.pathname === path), page.getByRole('button', { name: '授权' }).click()]);
}

async function json(url, init) {
  const r = await fetch(url, init);
  check(r.ok, `${init?.method ?? 'GET'} ${url} answered ${r.status}`);
  return r.status === 204 ? null : r.json();
}

async function main() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'devstack-browser-'));
  const profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
  const output = [];
  let exited = null;
  let context = null;

  step(`starting devstack on ${base}`);
  // Scheduled retry runs every 2 s (a minute in `make run`): the console walk retries an item.
  const stack = spawn(DEVSTACK, ['run', '--port', String(port), '--data-dir', dataDir, '--retry-every', '2'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running = stack;
  // Its output, kept beside the screenshots.
  await mkdir(SHOTS, { recursive: true });
  const log = createWriteStream(join(SHOTS, 'devstack.log'));
  stack.stdout.on('data', (d) => (output.push(d.toString()), log.write(d)));
  stack.stderr.on('data', (d) => (output.push(d.toString()), log.write(d)));
  stack.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  try {
    const env = await until('devstack to be ready', 90_000, async () => {
      if (exited) throw new Error('exited');
      const r = await fetch(`${base}/_sandbox/info`);
      if (!r.ok) return null;
      return parseEnv(await readFile(join(dataDir, 'demo.env'), 'utf8'));
    }).catch((e) => {
      throw new Error(`${exited ? `devstack exited (${JSON.stringify(exited)})` : e.message}; its output:\n${output.join('')}`);
    });
    check(env.DEVSTACK_MODE === 'sandbox', 'devstack runs with the sandboxes');

    step(`launching ${CHROMIUM}`);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
      // Accept-Language: en-US (the pages speak Chinese otherwise).
      locale: 'en-US',
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    page.setDefaultNavigationTimeout(15_000);

    step('GET /oauth/tapd/start: redirected to the TAPD sandbox consent page');
    await page.goto(`${base}/oauth/tapd/start`);
    check(page.url().startsWith(`${base}/tapd/oauth/`), `at TAPD's consent page, not ${page.url()}`);
    check((await page.title()) === 'TAPD 授权', 'the TAPD consent page title');
    // The flow is bound to this browser: Chromium keeps the Secure, __Host- cookie on
    // http://127.0.0.1 (a secure context), as it would on the deployment's https.
    const cookie = (await context.cookies(base)).find((c) => c.name === COOKIE);
    check(
      cookie && cookie.secure && cookie.httpOnly && cookie.sameSite === 'Lax' && cookie.path === '/',
      `the browser keeps the connect cookie: ${JSON.stringify(await context.cookies(base))}`,
    );
    await page.locator('select#workspace_id').selectOption(WORKSPACE);

    step('click "授权" at TAPD: on to the Tencent Docs consent page');
    await pressAuthorize(page, '/tdoc/oauth/v2/authorize');
    check((await page.title()) === '腾讯文档授权', 'the Tencent Docs consent page title');
    await page.locator('select#open_id').selectOption(OPEN_ID);

    step('click "授权" at Tencent Docs: back to our callback');
    await pressAuthorize(page, '/oauth/tdoc/callback');
    const connected = await page.locator('#connected').innerText();
    check(
      connected.includes(`TAPD workspace ${WORKSPACE} is now connected`),
      `the success page says connected: ${JSON.stringify(connected)}`,
    );
    check((await page.locator('form').count()) === 0, 'the connected page holds no form');
    check(
      (await page.locator('#webhook-url').innerText()) === `${env.PUBLIC_BASE_URL ?? base}/webhooks/tapd`,
      'the connected page shows the webhook URL',
    );
    check(!(await context.cookies(base)).some((c) => c.name === COOKIE), 'the cookie is cleared when the flow ends');
    // The workspace's own secret, as its admin copies it into TAPD; never the deployment's.
    const secret = (await page.locator('#webhook-secret').innerText()).trim();
    check(secret.length >= 22, `the connected page shows the workspace's secret (${secret.length} characters)`);
    check(!(await page.content()).includes(env.TAPD_WEBHOOK_SECRET), "the deployment's secret is not on the page");
    check((await page.locator('#copy-secret').count()) === 1, 'a copy button beside the secret');
    step(`success page: ${connected}`);

    const id = `11${WORKSPACE}${String(Date.now() % 1e9).padStart(9, '0')}`;
    const name = `Browser story ${id.slice(-4)}`;
    step(`story ${id} in the TAPD sandbox, and its story::create webhook`);
    await json(`${base}/_sandbox/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workspace_id: WORKSPACE, kind: 'story', id, name }),
    });
    const r = await fetch(`${base}/webhooks/tapd`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        event: 'story::create',
        workspace_id: WORKSPACE,
        id,
        event_id: String(Date.now()),
        secret,
      }),
    });
    const reply = await r.json();
    check(r.status === 200 && reply.status === 'linked', `the webhook answered ${r.status} ${JSON.stringify(reply)}`);

    // The webhook answers status words only: the doc is the one linking back to the story.
    const docs = await json(`${base}/_sandbox/docs`);
    const doc = docs.find((d) => !d.deleted && d.content.includes(`/view/${id}`));
    check(doc && doc.title === name && doc.owner_open_id === OPEN_ID, `a doc for the story in /_sandbox/docs: ${JSON.stringify(docs)}`);
    const comments = await json(`${base}/_sandbox/comments`);
    check(
      comments.some((c) => c.entry_id === id && c.entry_type === 'stories' && c.description.includes(doc.url)),
      `a comment linking the doc on the story: ${JSON.stringify(comments)}`,
    );

    step(`open the doc: ${doc.url}`);
    await page.goto(doc.url);
    check((await page.locator('#title').innerText()) === name, 'the doc page shows the story name');

    step('connect the workspace to another account: a confirmation first');
    await json(`${base}/_sandbox/tdoc-users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ open_id: OTHER_OPEN_ID, nick: OTHER_NICK }),
    });
    await page.goto(`${base}/oauth/tapd/start`);
    await page.locator('select#workspace_id').selectOption(WORKSPACE);
    await pressAuthorize(page, '/tdoc/oauth/v2/authorize');
    await page.locator('select#open_id').selectOption(OTHER_OPEN_ID);
    await pressAuthorize(page, '/oauth/tdoc/callback');
    const question = await page.locator('#question').innerText();
    check(question.includes(OTHER_NICK), `the confirmation names the new account: ${JSON.stringify(question)}`);
    check((await page.locator('form').count()) === 1, 'the confirmation page holds one form');

    // The same form submitted from another browser (no cookie) is refused.
    const token = await page.locator('input[name=token]').getAttribute('value');
    const other = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const otherPage = await (await other.newContext({ locale: 'en-US' })).newPage();
      await otherPage.goto(`${base}/`);
      const status = await otherPage.evaluate(async (t) => {
        const r = await fetch('/oauth/tdoc/confirm', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: t }),
        });
        return r.status;
      }, token);
      check(status === 403, `another browser's confirmation is refused: ${status}`);
    } finally {
      await other.close();
    }

    step('click the confirmation in the browser that started the flow');
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/oauth/tdoc/confirm'),
      page.getByRole('button', { name: 'Replace the account' }).click(),
    ]);
    const rebound = await page.locator('#connected').innerText();
    check(rebound.includes(OTHER_NICK), `connected to the new account: ${JSON.stringify(rebound)}`);
    check((await page.locator('form').count()) === 0, 'the final page holds no form');

    await walkInChinese(base, env);

    step('PASSED');
  } finally {
    if (context) await context.close().catch(() => {});
    if (!exited) {
      stack.kill('SIGTERM');
      await until('devstack to stop', 20_000, () => exited).catch(() => stack.kill('SIGKILL'));
    }
    await rm(dataDir, { recursive: true, force: true });
    await rm(profile, { recursive: true, force: true });
  }
}

// The walk a person takes, in Chinese: connect, create a story in the TAPD sandbox through
// its form, see the comment linking the doc on the story's page, open the doc, follow its
// link back. A screenshot of each step goes to .local/browser/; CJK text must render.
async function walkInChinese(base, env) {
  await mkdir(SHOTS, { recursive: true });
  for (const f of await readdir(SHOTS)) if (f.endsWith('.png')) await rm(join(SHOTS, f));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({
      locale: 'zh-CN',
      extraHTTPHeaders: { 'Accept-Language': 'zh-CN,zh;q=0.9' },
      viewport: { width: 1000, height: 760 },
    });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.setDefaultNavigationTimeout(45_000);
    let n = 0;
    const shots = [];
    const shot = async (p, name) => {
      n += 1;
      const file = join(SHOTS, `${String(n).padStart(2, '0')}-${name}.png`);
      const png = await p.screenshot({ path: file, fullPage: true });
      shots.push({ file, png });
      step(`screenshot ${file.slice(ROOT.length + 1)}`);
    };

    step('中文: connect (Accept-Language: zh-CN)');
    await page.goto(`${base}/oauth/tapd/start`);
    await page.locator('select#workspace_id').selectOption(WORKSPACE);
    await shot(page, 'tapd-consent');
    await pressAuthorize(page, '/tdoc/oauth/v2/authorize');
    // The account the workspace is bound to now: reconnecting it needs no confirmation.
    await page.locator('select#open_id').selectOption(OTHER_OPEN_ID);
    await pressAuthorize(page, '/oauth/tdoc/callback');
    const connected = await page.locator('#connected').innerText();
    check(connected.includes(`TAPD 项目 ${WORKSPACE} 现已连接到腾讯文档账号`), `connected, in Chinese: ${JSON.stringify(connected)}`);
    await shot(page, 'connected');

    step('中文: the TAPD sandbox, 新建需求');
    await page.goto(`${base}/tapd/web/`);
    await Promise.all([page.waitForURL(`${base}/tapd/web/${WORKSPACE}/`), page.locator(`a[href="/tapd/web/${WORKSPACE}/"]`).click()]);
    await shot(page, 'tapd-workspace');
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/tapd/web/${WORKSPACE}/prong/stories/add`),
      page.getByRole('link', { name: '新建需求' }).click(),
    ]);
    const title = `按月导出成本报表（${String(Date.now()).slice(-4)}）`;
    await page.locator('#name').fill(title);
    await page.locator('#description').fill('作为财务人员，我希望按月导出所有项目的成本报表。');
    await shot(page, 'new-story');

    step(`中文: 创建 "${title}": the story page shows the comment linking its doc`);
    await Promise.all([
      page.waitForURL((u) => /\/prong\/stories\/view\/\d{19}$/.test(u.pathname)),
      page.getByRole('button', { name: '创建' }).click(),
    ]);
    const storyUrl = page.url().split('?')[0];
    check(new URL(page.url()).searchParams.get('webhook') === '200', `the story::create delivery answered 200: ${page.url()}`);
    check((await page.locator('#title').innerText()).includes(title), 'the story page shows the Chinese title');
    const link = page.locator('#comments a', { hasText: title });
    check((await link.count()) === 1, `one comment links the doc: ${await page.locator('#comments').innerText()}`);
    check(
      (await page.locator('#comments').innerText()).includes('已为此需求创建腾讯文档'),
      'the comment speaks Chinese',
    );
    await shot(page, 'story-with-comment');

    step('中文: click the doc link (a new tab)');
    const [docPage] = await Promise.all([context.waitForEvent('page'), link.click()]);
    await docPage.waitForLoadState();
    check(new URL(docPage.url()).pathname.startsWith('/tdoc/doc/'), `a Tencent Docs page: ${docPage.url()}`);
    check((await docPage.locator('#title').innerText()) === title, 'the doc is titled like the story');
    const text = await docPage.locator('#content').innerText();
    check(text.includes(title) && text.includes(storyUrl), `the doc's text names the story and links it: ${JSON.stringify(text)}`);
    await shot(docPage, 'doc');

    step('中文: follow the doc\'s link back to the story');
    await Promise.all([
      docPage.waitForURL(storyUrl),
      docPage.locator(`#content a[href="${storyUrl}"]`).click(),
    ]);
    check((await docPage.locator('#title').innerText()).includes(title), 'back on the story page');
    await shot(docPage, 'back-to-story');

    await walkTheStoryToDone(context, docPage, storyUrl, title, shot);

    await walkTheConsole(base, context, shot, env);

    await checkCjkRenders(docPage, shots);
  } finally {
    await browser.close();
  }
}

// The story moves on, as a person moves it on its TAPD page: its form sets 开发中 and an owner,
// TAPD delivers the change to the product (devstack's tapd-webhook), and the doc, opened from
// the story's comment, shows the new status and owner in its card (the person's text below it
// kept); then 已实现 (an end status of the workflow): the card says so, the doc page says the doc
// is in 已完成, and that folder's page lists it (its parent folder no longer does).
async function walkTheStoryToDone(context, page, storyUrl, title, shot) {
  // Saves the story page's form and waits for TAPD's deliveries to have been answered.
  const save = async (status, owner) => {
    await page.locator('select#status').selectOption(status);
    if (owner !== undefined) await page.locator('#owner').fill(owner);
    await Promise.all([page.waitForURL((u) => u.searchParams.has('updated')), page.locator('#save').click()]);
    const note = await page.locator('#updated').innerText();
    check(note.includes('（HTTP 200）'), `the product answered the deliveries: ${note}`);
    check((await page.locator('#field-status').innerText()) === status, `the story page shows ${status}`);
  };
  // Opens the doc from the story's comment (a new tab), reloading until its card shows `want`.
  const openDoc = async (want) => {
    const [doc] = await Promise.all([
      context.waitForEvent('page'),
      page.locator('#comments a', { hasText: title }).click(),
    ]);
    doc.setDefaultTimeout(15_000);
    await doc.waitForLoadState();
    let card = '';
    await until(`the card to show ${want.join(', ')}`, 15_000, async () => {
      card = await doc.locator('#first-block').innerText();
      if (want.every((w) => card.includes(w))) return true;
      await doc.reload();
      return false;
    }).catch((e) => {
      throw new Error(`${e.message}; the card: ${JSON.stringify(card)}`);
    });
    check(card.includes(title) && card.includes(storyUrl), `the card names the story and links it: ${card}`);
    const text = await doc.locator('#content').innerText();
    check(text.includes('作为财务人员，我希望按月导出所有项目的成本报表。'), `the text under the card stays: ${text}`);
    return { doc, card };
  };

  step('中文: on the story page, 状态 开发中 and 处理人 anyechen, 保存');
  await page.locator('select#status').selectOption('开发中');
  await page.locator('#owner').fill('anyechen');
  await shot(page, 'story-edit');
  await save('开发中', 'anyechen');
  check((await page.locator('#field-owner').innerText()) === 'anyechen', 'the story page shows the owner');
  await shot(page, 'story-developing');

  step('中文: open the doc from the comment: the card shows 开发中 and anyechen');
  const developing = await openDoc(['状态：开发中', '处理人：anyechen']);
  const before = await developing.doc.locator('#location').innerText();
  check(!before.includes('已完成'), `a story in progress is not in 已完成: ${before}`);
  await shot(developing.doc, 'doc-card-developing');
  await developing.doc.close();

  step('中文: 状态 已实现 (an end status), 保存');
  await save('已实现');
  await shot(page, 'story-done');

  step('中文: the doc\'s card shows 已实现; the doc is in 已完成');
  const { doc, card } = await openDoc(['状态：已实现']);
  check(card.includes('处理人：anyechen') && !card.includes('开发中'), `the card holds the new status only: ${card}`);
  const crumbs = doc.locator('#location a.folder');
  const where = await crumbs.allInnerTexts();
  check(where.at(-1) === '已完成' && where.length >= 2, `the doc page says it is in 已完成 of its folder: ${JSON.stringify(where)}`);
  await shot(doc, 'doc-card-done');

  step('中文: the 已完成 folder\'s page lists the doc; its parent folder no longer does');
  const parent = where.at(-2);
  await Promise.all([doc.waitForURL((u) => u.pathname.startsWith('/tdoc/folder/')), crumbs.last().click()]);
  check((await doc.locator('#title').innerText()) === '已完成', 'on the 已完成 folder page');
  const listed = doc.locator('#entries li.file a', { hasText: title });
  check((await listed.count()) === 1, `已完成 lists the doc: ${await doc.locator('main').innerText()}`);
  await shot(doc, 'folder-done');
  // On a folder's page the last link of where it is leads to its parent.
  await Promise.all([
    doc.waitForURL((u) => u.pathname.startsWith('/tdoc/folder/')),
    doc.locator('#location a.folder').last().click(),
  ]);
  check((await doc.locator('#title').innerText()) === parent, `on the parent folder's page (${parent})`);
  check(
    (await doc.locator('#entries li.folder a', { hasText: '已完成' }).count()) === 1,
    `the parent folder holds one 已完成: ${await doc.locator('main').innerText()}`,
  );
  check((await doc.locator('#entries li.file a', { hasText: title }).count()) === 0, 'the doc left its parent folder');
  await shot(doc, 'folder-parent');

  step('中文: the doc opens from 已完成');
  await doc.goBack();
  await Promise.all([doc.waitForURL((u) => u.pathname.startsWith('/tdoc/doc/')), listed.click()]);
  check((await doc.locator('#title').innerText()) === title, 'the doc opens from its folder');
  await doc.close();
}

// The console, as the team lead: sign in with TAPD, see the linked story and a waiting one
// with its reason in words, retry it once Tencent Docs is back and see it linked, set the
// title template and see the next doc follow it; another workspace's page does not exist.
async function walkTheConsole(base, context, shot, env) {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  step('控制台: a plain member (anyechen, not 管理员) is refused, and told who may');
  await page.goto(`${base}/console`);
  await page.locator('select#user_id').selectOption(MEMBER_USER_ID);
  await page.locator('select#workspace_id').selectOption(WORKSPACE);
  const [refused] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/oauth/tapd/callback'),
    page.getByRole('button', { name: '授权' }).click(),
  ]);
  check(refused.status() === 403, `a non-admin's sign-in answers 403, not ${refused.status()}`);
  const why = await page.locator('#problem').innerText();
  check(why.includes('管理员') && why.includes('tapdocs workspace admins add'), `the page says who may: ${why}`);
  check(!(await context.cookies(base)).some((c) => c.name === '__Host-tapd-docs-console'), 'no console session');
  await shot(page, 'console-not-an-admin');

  step('控制台: sign in with TAPD, as the workspace\'s admin');
  await page.goto(`${base}/console`);
  await page.locator('select#user_id').selectOption(ADMIN_USER_ID);
  await page.locator('select#workspace_id').selectOption(WORKSPACE);
  await pressAuthorize(page, `/console/ws/${WORKSPACE}`);
  check((await page.locator('#workspace').innerText()).includes(`TAPD 项目 ${WORKSPACE}`), 'the console names its workspace');
  check((await page.locator('tr[data-state="linked"]').count()) >= 1, 'the linked story is listed as 已关联');
  await shot(page, 'console');
  await docShot(page, 'console');

  step('控制台: Tencent Docs fails; a new story waits, with why');
  await json(`${base}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ method: 'POST', path_prefix: '/tdoc/openapi/drive/v2/files$', kind: { status: 429 }, times: 0 }),
  }).catch(() => {});
  const id = `11${WORKSPACE}${String(Date.now() % 1e9).padStart(9, '0')}`;
  await json(`${base}/_sandbox/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workspace_id: WORKSPACE, kind: 'story', id, name: '控制台里等待的需求' }),
  });
  await fetch(`${base}/webhooks/tapd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'story::create', workspace_id: WORKSPACE, id, event_id: `c${id}`, secret: env.TAPD_WEBHOOK_SECRET }),
  });
  await page.goto(`${base}/console/ws/${WORKSPACE}?state=waiting`);
  const row = page.locator(`tr[data-item="${id}"]`);
  check((await row.getAttribute('data-state')) === 'waiting', 'the story waits');
  check((await row.locator('.why').innerText()).includes('请求过于频繁'), 'its reason, in plain words');
  await shot(page, 'console-waiting');

  step('控制台: Tencent Docs is back; 重试, and the schedule links it');
  await fetch(`${base}/_sandbox/faults`, { method: 'DELETE' });
  await Promise.all([page.waitForURL((u) => u.searchParams.get('done') === 'retried'), row.getByRole('button', { name: '重试' }).click()]);
  await until('the retried story to be linked', 30_000, async () => {
    await page.goto(`${base}/console/ws/${WORKSPACE}`);
    return (await page.locator(`tr[data-item="${id}"]`).getAttribute('data-state')) === 'linked';
  });
  await shot(page, 'console-retried');

  step('控制台: the title template, and the next doc follows it');
  await page.locator('#title_template').fill('【需求】{name}');
  await Promise.all([page.waitForURL((u) => u.searchParams.get('done') === 'saved'), page.locator('#settings').getByRole('button', { name: '保存' }).click()]);
  check((await page.locator('#preview').innerText()).includes('【需求】'), 'the preview follows the template');
  await shot(page, 'console-settings');
  const next = `11${WORKSPACE}${String((Date.now() + 7) % 1e9).padStart(9, '0')}`;
  await json(`${base}/_sandbox/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workspace_id: WORKSPACE, kind: 'story', id: next, name: '模板之后的需求' }),
  });
  await until('the next doc, titled by the template', 30_000, async () => {
    await fetch(`${base}/webhooks/tapd`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'story::create', workspace_id: WORKSPACE, id: next, event_id: `n${next}`, secret: env.TAPD_WEBHOOK_SECRET }),
    });
    const docs = await json(`${base}/_sandbox/docs`);
    return docs.some((d) => d.title === '【需求】模板之后的需求');
  });

  await walkAGivenUpItem(base, page, shot, env);

  step("控制台: another workspace's page does not exist for this session");
  const other = await page.goto(`${base}/console/ws/20000002`);
  check(other.status() === 404, `another workspace: HTTP ${other.status()}`);
  await page.close();
}

// A given-up item, as the team lead meets it: 缺陷 is unticked under 处理的事件, so a new bug is
// given up at once; the items page says 已放弃 and why, the search box finds it by its id, its
// history page shows the attempt; 缺陷 ticked again, 重试 on its history page, the schedule
// links it, its history shows who retried, and the search finds it by words of its doc's title.
async function walkAGivenUpItem(base, page, shot, env) {
  const bugBox = () => page.locator('#events input[name="event_bug"]');
  const saveEvents = () =>
    Promise.all([page.waitForURL((u) => u.searchParams.get('done') === 'saved'), page.locator('#save-events').click()]);
  step('控制台: untick 缺陷 under 处理的事件; a new bug is given up at once');
  await page.goto(`${base}/console/ws/${WORKSPACE}`);
  await bugBox().uncheck();
  await saveEvents();
  check(!(await bugBox().isChecked()), '缺陷 stays unticked once saved');
  const bug = `11${WORKSPACE}${String((Date.now() + 13) % 1e9).padStart(9, '0')}`;
  const name = '放弃后又找回的缺陷';
  await json(`${base}/_sandbox/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workspace_id: WORKSPACE, kind: 'bug', id: bug, name }),
  });
  const delivered = await json(`${base}/webhooks/tapd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'bug::create', workspace_id: WORKSPACE, id: bug, event_id: `b${bug}`, secret: env.TAPD_WEBHOOK_SECRET }),
  });
  check(delivered?.status === 'ignored', `the bug is not linked: ${JSON.stringify(delivered)}`);

  step('控制台: the items page says 已放弃, and why');
  await page.goto(`${base}/console/ws/${WORKSPACE}?state=given_up`);
  const row = page.locator(`tr[data-item="${bug}"]`);
  check((await row.getAttribute('data-state')) === 'given_up', 'the bug is listed as given up');
  check((await row.locator('td').nth(2).innerText()).includes('已放弃'), `its state reads 已放弃: ${await row.innerText()}`);
  const why = await row.locator('.why').innerText();
  check(why.includes('已放弃') && why.includes('本项目的设置不为缺陷创建文档'), `why, in words: ${why}`);
  check((await row.getByRole('button', { name: '重试' }).count()) === 1, 'a given-up row offers 重试');
  await shot(page, 'console-given-up');
  await docShot(page, 'console-given-up');

  step('控制台: the search box finds it by its id (the URL carries the query)');
  await page.goto(`${base}/console/ws/${WORKSPACE}`);
  await page.locator('#q').fill(bug);
  await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === bug), page.locator('#search').getByRole('button', { name: '查找' }).click()]);
  check((await page.locator('#items tr[data-item]').count()) === 1, 'one item found');
  check((await page.locator(`tr[data-item="${bug}"]`).getAttribute('data-state')) === 'given_up', 'found, given up');
  check((await page.locator('#q').inputValue()) === bug, 'the box keeps the query');

  step('控制台: its history page (历史) shows the attempt that gave it up');
  const history = `/console/ws/${WORKSPACE}/item/bug/${bug}`;
  await Promise.all([page.waitForURL((u) => u.pathname === history), page.locator(`tr[data-item="${bug}"] a.history`).click()]);
  check((await page.locator('#item').innerText()).includes(bug), 'the page names the item');
  const gaveUp = page.locator('#history tr[data-event="given_up"]');
  check((await gaveUp.count()) === 1, `one attempt, given up: ${await page.locator('body').innerText()}`);
  const attempt = await gaveUp.innerText();
  check(attempt.includes('失败，已放弃') && attempt.includes('本项目的设置不为缺陷创建文档'), `the attempt, in words: ${attempt}`);
  await shot(page, 'console-history-given-up');

  step('控制台: tick 缺陷 again; 重试 on its history page, and the schedule links it');
  await page.goto(`${base}/console/ws/${WORKSPACE}`);
  await bugBox().check();
  await saveEvents();
  check(await bugBox().isChecked(), '缺陷 ticked again');
  await page.goto(`${base}${history}`);
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('done') === 'retried'),
    page.locator(`tr[data-item="${bug}"]`).getByRole('button', { name: '重试' }).click(),
  ]);
  let last = '';
  await until('the retried bug to be linked', 30_000, async () => {
    await page.goto(`${base}${history}`);
    last = await page.locator('body').innerText();
    return (await page.locator(`tr[data-item="${bug}"]`).getAttribute('data-state')) === 'linked';
  }).catch((e) => {
    throw new Error(`${e.message}; its page: ${last}`);
  });
  const events = await page.locator('#history tr[data-event]').evaluateAll((rows) => rows.map((r) => r.dataset.event));
  check(
    events[0] === 'linked' && events.includes('retried') && events.at(-1) === 'given_up',
    `its history, newest first: linked, retried by hand, given up: ${events}`,
  );
  const retried = await page.locator('#history tr[data-event="retried"]').innerText();
  check(retried.includes('手动重试') && retried.includes('robertyang'), `who retried it: ${retried}`);
  await shot(page, 'console-history');
  await docShot(page, 'console-history', true);

  step('控制台: the search box finds it by words of its doc\'s title');
  await page.goto(`${base}/console/ws/${WORKSPACE}`);
  await page.locator('#q').fill('又找回');
  await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === '又找回'), page.locator('#search').getByRole('button', { name: '查找' }).click()]);
  const found = await page.locator('#items tr[data-item]').evaluateAll((rows) => rows.map((r) => [r.dataset.item, r.dataset.state]));
  check(JSON.stringify(found) === JSON.stringify([[bug, 'linked']]), `found by its title's words: ${JSON.stringify(found)}`);
  await shot(page, 'console-found');
}

// CJK renders: two different characters draw two different, non-empty glyphs in the pages'
// font (without a CJK font both are the same "tofu" box), and no screenshot is blank.
async function checkCjkRenders(page, shots) {
  const glyphs = await page.evaluate(() => {
    const font = getComputedStyle(document.body).fontFamily;
    const draw = (ch) => {
      const c = document.createElement('canvas');
      c.width = 48;
      c.height = 48;
      const g = c.getContext('2d');
      g.font = `40px ${font}`;
      g.fillText(ch, 2, 40);
      return Array.from(g.getImageData(0, 0, 48, 48).data.filter((_, i) => i % 4 === 3));
    };
    const a = draw('需');
    const b = draw('缺');
    return { inked: a.some((v) => v > 0) && b.some((v) => v > 0), differ: a.some((v, i) => v !== b[i]) };
  });
  if (process.env.CJK_FONTS === 'missing' && process.env.BROWSER_TEST !== 'required') {
    step(`no CJK font installed: glyph check not enforced (${JSON.stringify(glyphs)})`);
  } else {
    check(glyphs.inked && glyphs.differ, `CJK characters render as distinct glyphs (a CJK font is installed): ${JSON.stringify(glyphs)}`);
  }
  // Decoded in a blank page: the sandbox's pages' CSP allows no images.
  const blank = await page.context().newPage();
  for (const { file, png } of shots) {
    const colours = await blank.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < d.length && seen.size < 50; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      return seen.size;
    }, png.toString('base64'));
    check(colours >= 10, `${file} is not blank (${colours} colours)`);
  }
  await blank.close();
  step(`CJK renders (${JSON.stringify(glyphs)}); ${shots.length} screenshots are not blank`);
}

const timer = setTimeout(() => {
  console.error(`browser test: FAILED: not done after ${TOTAL_MS / 1000} s`);
  // SIGTERM: devstack stops its functions and moto on its own.
  running?.kill('SIGTERM');
  process.exit(1);
}, TOTAL_MS);

main().then(
  () => {
    clearTimeout(timer);
  },
  (e) => {
    clearTimeout(timer);
    console.error(`browser test: FAILED: ${e.stack || e}`);
    process.exitCode = 1;
  },
);
