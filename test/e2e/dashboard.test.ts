import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import axe from 'axe-core';
import { type Browser, chromium, type Page } from 'playwright-core';
import {
  awaitDeployment,
  BLUE_GREEN_STEPS,
  call,
  environmentBody,
  type KilnProcess,
  removeDataDir,
  startKilnProcess,
  TOKEN,
} from '../support/kiln-process.ts';

/**
 * The few browser globals that the functions evaluated in the page use (the project's types are Node's,
 * without the DOM library, whose globals would clash with Node's).
 */
interface PageElement {
  tagName: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  activeElement: PageElement | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  cookie: string;
};
declare const window: Record<string, unknown>;
declare const getComputedStyle: (element: PageElement) => { outlineStyle: string; outlineWidth: string };
declare const sessionStorage: { getItem(key: string): string | null };
declare const localStorage: { length: number };

/** Debian's Chromium (`apt-get install -y chromium`, as .ci/run does): nothing here may download a browser. */
const CHROMIUM = '/usr/bin/chromium';
/** Flags that keep Chromium off the network it cannot reach here, and out of any sandbox it cannot make as root. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots of each run, for a person to look at (gitignored). */
const SCREENSHOTS = join(import.meta.dirname, '../../.scratch/dashboard');

const ENVIRONMENT = 'shop-dev';

/**
 * A deployment that takes a few seconds: three healthy probe rounds a second apart and a 2 s drain, so the
 * page (polling every second) has time to show it running between its steps.
 */
function slowEnoughBody(version: string) {
  const body = environmentBody(version, { capacity: 1 });
  body.spec.healthCheck.healthyThreshold = 3;
  body.spec.drainSeconds = 2;
  return body;
}

/** What the timeline shows at one moment. */
interface Seen {
  /** The timeline's caption: which deployment it is. */
  caption: string;
  status: string | null;
  finished: string[];
  running: boolean;
}

function seen(page: Page): Promise<Seen> {
  return page.evaluate(() => {
    const steps = [...document.querySelectorAll('[data-step]')];
    return {
      caption: document.querySelector('.timeline figcaption')?.textContent ?? '',
      status:
        document.querySelector('[data-deployment-status]')?.getAttribute('data-deployment-status') ?? null,
      finished: steps
        .filter((s) => s.getAttribute('data-running') === 'false')
        .map((s) => s.getAttribute('data-step') ?? ''),
      running: steps.some((s) => s.getAttribute('data-running') === 'true'),
    };
  });
}

/** Waits until a page has opened: its heading shown and focused (where keyboard users start). */
async function headingFocused(page: Page, name: string): Promise<void> {
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
}

/** axe-core's WCAG 2 A/AA findings on the page as it is now. */
async function accessibilityViolations(page: Page) {
  await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const result = await (window.axe as typeof axe).run('html', {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

describe('web dashboard in headless Chromium against npm start', {
  timeout: 240_000,
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent: apt-get install -y chromium (.ci/run does)`,
}, () => {
  let kiln: KilnProcess;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const urls: string[] = [];

  before(async () => {
    await mkdir(SCREENSHOTS, { recursive: true });
    // Every log line Kiln writes, down to debug, is checked for the token below.
    kiln = await startKilnProcess(undefined, { POWERTOOLS_LOG_LEVEL: 'DEBUG' });
    const put = await call(kiln, 'PUT', `/environments/${ENVIRONMENT}`, { body: slowEnoughBody('1.0.0') });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal((await awaitDeployment(kiln, ENVIRONMENT, put.body.deploymentId)).status, 'succeeded');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('request', (request) => urls.push(request.url()));
  });

  after(async () => {
    await browser?.close();
    await kiln?.stop();
    if (kiln) await removeDataDir(kiln.dataDir);
  });

  it('signs in from the keyboard with a labelled token field; the token stays in sessionStorage, out of the URL', async () => {
    await page.goto(`${kiln.apiUrl}/ui/`);
    await headingFocused(page, 'Sign in to Kiln');
    assert.deepEqual(await accessibilityViolations(page), []);
    // The other way in (Kiln on AWS): labelled fields for a role session's credentials.
    await page.getByLabel(/AWS credentials/).check();
    for (const label of ['Access key ID', 'Secret access key', 'Session token', 'Region']) {
      assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, label);
    }
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.reload();
    await headingFocused(page, 'Sign in to Kiln');
    // Focus order: the sign-in choice, the token field, the button; each focus visibly outlined.
    const focused = async () =>
      page.evaluate(() => {
        const element = document.activeElement as PageElement;
        const style = getComputedStyle(element);
        return {
          what: `${element.tagName.toLowerCase()}:${element.getAttribute('name') ?? element.textContent}`,
          outline: style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) >= 2,
        };
      });
    const order = [];
    for (let i = 0; i < 3; i += 1) {
      await page.keyboard.press('Tab');
      order.push(await focused());
      if (i === 1) await page.keyboard.type(TOKEN);
    }
    assert.deepEqual(order, [
      { what: 'input:kind', outline: true },
      { what: 'input:token', outline: true },
      { what: 'button:Sign in', outline: true },
    ]);
    assert.equal(await page.getByLabel('Bearer token', { exact: true }).inputValue(), TOKEN);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Environments' }).waitFor();
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('kiln.credentials'),
      local: localStorage.length,
      cookie: document.cookie,
    }));
    assert.deepEqual(JSON.parse(stored.session ?? '{}'), { kind: 'token', token: TOKEN });
    assert.equal(stored.local, 0);
    assert.equal(stored.cookie, '');
    assert.ok(!page.url().includes(TOKEN));
  });

  it("lists the team's environments with their status, live version and endpoint", async () => {
    const environment = (await call(kiln, 'GET', `/environments/${ENVIRONMENT}`)).body;
    const row = page.getByRole('row', { name: new RegExp(`^${ENVIRONMENT}`) });
    await row.waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Team platform' }).count(), 1);
    const cells = await row.getByRole('cell').allInnerTexts();
    assert.deepEqual(cells, ['dev', 'live', '1.0.0', environment.endpoint]);
    assert.equal(
      await row.getByRole('link', { name: environment.endpoint }).getAttribute('href'),
      environment.endpoint,
    );
    assert.deepEqual(await accessibilityViolations(page), []);
  });

  it('starts a deployment from the page and draws its steps as they happen until it succeeds, without a reload', async () => {
    await page.getByRole('link', { name: ENVIRONMENT }).click();
    await page.getByRole('heading', { name: ENVIRONMENT, level: 1 }).waitFor();
    await page.getByRole('cell', { name: '100 %' }).waitFor();
    // A reload would clear this: it must survive to the end.
    await page.evaluate(() => {
      window.stayedOnPage = true;
    });
    await page.getByLabel('Version').fill('2.0.0');
    await page.getByLabel('Reason').fill('from the dashboard');
    await page.getByRole('button', { name: 'Start deployment' }).click();

    const moments: Seen[] = [];
    let screenshotWhileRunning = false;
    const deadline = Date.now() + 90_000;
    for (;;) {
      assert.ok(Date.now() < deadline, `no success on the page: ${JSON.stringify(moments.at(-1))}`);
      const now = await seen(page);
      // Until the POST is answered, the page still shows the deployment before.
      if (now.caption.includes('of 2.0.0')) {
        moments.push(now);
        if (now.status === 'running' && now.finished.length >= 2 && !screenshotWhileRunning) {
          await page.screenshot({ path: join(SCREENSHOTS, 'deployment-running.png'), fullPage: true });
          screenshotWhileRunning = true;
        }
        if (now.status === 'succeeded' && !now.running) break;
      }
      await page.waitForTimeout(100);
    }
    const last = moments.at(-1) as Seen;
    // While it ran, the page showed some of its steps done and one under way, then more.
    const midway = moments.filter((m) => m.status === 'running' && m.running && m.finished.length > 0);
    assert.ok(midway.length > 0, JSON.stringify(moments));
    assert.ok(
      midway.some((m) => m.finished.length < last.finished.length),
      'a moment with fewer steps done than at the end',
    );
    const counts = moments.map((m) => m.finished.length);
    assert.ok(
      counts.every((count, i) => i === 0 || count >= (counts[i - 1] ?? 0)),
      `the timeline only grows: ${counts.join(',')}`,
    );
    for (const step of BLUE_GREEN_STEPS) {
      assert.ok(last.finished.includes(step), `${step} in ${last.finished.join(', ')}`);
    }
    assert.equal(
      await page.evaluate(() => (window as unknown as { stayedOnPage?: boolean }).stayedOnPage),
      true,
    );

    // The page's deployment is the API's: version 2.0.0, asked for by the token's person, succeeded.
    const environment = (await call(kiln, 'GET', `/environments/${ENVIRONMENT}`)).body;
    const deployment = (
      await call(kiln, 'GET', `/environments/${ENVIRONMENT}/deployments/${environment.latestDeploymentId}`)
    ).body;
    assert.deepEqual(
      [deployment.version, deployment.reason, deployment.status],
      ['2.0.0', 'from the dashboard', 'succeeded'],
    );
    await page.getByText(`Deployment ${deployment.id} of 2.0.0`).waitFor();
    const stack = page.getByRole('row', { name: new RegExp(`^${environment.liveStack.stackId}`) });
    await stack.getByRole('cell', { name: '100 %' }).waitFor();
    await page.getByRole('img', { name: /^Timeline of its steps: AcquireLease/ }).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'deployment-succeeded.png'), fullPage: true });
    assert.deepEqual(await accessibilityViolations(page), []);
  });

  it('signs out: the credentials leave sessionStorage and the sign-in form is back', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Kiln' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('kiln.credentials')), null);
  });

  it('ran without a script error or a Content-Security-Policy violation, and kept the token out of URLs and logs', () => {
    assert.deepEqual(problems, []);
    assert.ok(urls.length > 10);
    assert.deepEqual(
      urls.filter((url) => url.includes(TOKEN)),
      [],
    );
    assert.ok(!kiln.output().includes(TOKEN), 'the token appears in Kiln’s output');
  });
});
