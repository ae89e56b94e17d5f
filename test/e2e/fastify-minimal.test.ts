import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { freePort, waitForTileState } from './harness.js';

const SERVER = fileURLToPath(new URL('../../examples/fastify-minimal/server.js', import.meta.url));

describe('examples/fastify-minimal', () => {
  let child: ReturnType<typeof spawn>;
  let exited: Promise<number | null>;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [SERVER], {
      env: { ...process.env, PORT: String(port), STEP_MS: '300' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fastify-minimal did not start')), 15_000);
      child.stdout?.on('data', (chunk) => {
        if (String(chunk).includes(base)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      await exited;
    }
  });

  it('starts the demo job from its button, shows it live in the tile, and re-enables the button', async () => {
    const chromium = await launchChromium();
    try {
      const page = await chromium.context.newPage();
      await page.goto(base);
      const selector = 'job-status[action="demo-export"]';
      expect(await page.locator(selector).getAttribute('state')).toBe('idle');
      const button = page.getByRole('button', { name: 'Start export' });
      await button.click();
      await waitForTileState(page, selector, 'running');
      expect(await button.isDisabled()).toBe(true);
      await waitForTileState(page, selector, 'success', 15_000);
      await page.locator(selector).getByText('Exported 5 of 5 steps.').filter({ visible: true }).first().waitFor();
      expect(await button.isEnabled()).toBe(true);
      const api = await page.request.get(`${base}/api/admin/jobs?category=demo-export`);
      expect((await api.json()).jobs).toHaveLength(1);
    } finally {
      await chromium.close();
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
