import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseClient } from '../contract/client.js';
import { FormClient } from '../support/form-client.js';
import { waitFor } from '../support/wait.js';
import { ADMIN_PASSWORD, freePort, type Instance, startInstance, tempDir } from './harness.js';

/**
 * A Dedalus API that quotes the key it was given in its error, as some services do: whatever the SDK
 * makes of that answer must not carry the key into a job.
 */
async function startQuotingDedalus(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const key = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1] ?? String(req.headers['x-api-key']);
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `The API key ${key} does not belong to this workspace` } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

// Hostile API keys: refused with the reason, or, once saved, never written where a job shows.
describe('reference app: Dedalus API keys', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let dedalus: Awaited<ReturnType<typeof startQuotingDedalus>>;
  let app: Instance;
  let admin: FormClient;
  let stream: SseClient;

  beforeAll(async () => {
    dir = await tempDir();
    dedalus = await startQuotingDedalus();
    app = await startInstance({
      name: 'peer-a',
      port: await freePort(),
      dataDir: dir.path,
      peers: { 'peer-b': await freePort() },
      dedalusUrl: dedalus.url,
    });
    admin = new FormClient(app.url);
    expect((await admin.logIn('admin', ADMIN_PASSWORD)).status).toBe(303);
    const cookie = [...admin.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    // Every job change and log line, as a page following the jobs would get them.
    stream = await SseClient.open(`${app.url}/api/admin/jobs/events?logs=1`, { cookie });
    await stream.ready();
  });

  afterAll(async () => {
    stream?.close();
    await app?.stop();
    dedalus?.server.closeAllConnections();
    await new Promise((resolve) => dedalus?.server.close(resolve));
    await dir?.remove();
  });

  /** Everywhere a key could end up: the list API, the stream, the job log, the database but for the saved key. */
  async function everywhere(): Promise<Record<string, string>> {
    const db = new Database(join(app.dataDir, 'app.db'), { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
    const rows = tables.map(({ name }) =>
      JSON.stringify(
        db
          .prepare(`SELECT * FROM "${name}"`)
          .all()
          .filter((row) => name !== 'settings' || (row as { name: string }).name !== 'dedalus_api_key'),
      ),
    );
    db.close();
    return {
      list: (await admin.get('/api/admin/jobs?limit=500')).body,
      stream: stream.raw,
      jsonl: readFileSync(join(app.dataDir, 'jobs.jsonl'), 'utf8'),
      sqlite: rows.join('\n'),
    };
  }

  const saveKey = async (apiKey: string) => {
    await admin.get('/admin/dedalus');
    return admin.post('/admin/dedalus/key', { api_key: apiKey }, { accept: 'application/json' });
  };

  it('refuses a key that is not 16 to 200 printable ASCII characters, says why, and keeps it nowhere', async () => {
    const cases: Array<[key: string, reason: string]> = [
      ['dsk-NULMARK\u0000-0123456789', 'character 12 is a control character (U+0000)'],
      ['dsk-LFMARK\nX-Injected: yes-0123', 'character 11 is a control character (U+000A)'],
      ['dsk-CRMARK\r-0123456789abcdef', 'character 11 is a control character (U+000D)'],
      ['dsk-ESCMARK\u001b[31m-0123456789', 'character 12 is a control character (U+001B)'],
      ['dsk-DELMARK\u007f-0123456789abc', 'character 12 is a control character (U+007F)'],
      ['dsk-UNIMARK-\u00e9-0123456789ab', 'character 13 is not ASCII'],
      ['dsk-SPACEMARK 0123456789abcdef', 'The API key must not contain spaces'],
      ['SHORTMARK-123', 'too short: 13 characters'],
      [`LONGMARK-${'x'.repeat(300)}`, 'too long: 309 characters'],
    ];
    for (const [key, reason] of cases) {
      const answer = await saveKey(key);
      const error = (JSON.parse(answer.body) as { error: { field: string; message: string } }).error;
      expect({ key, status: answer.status, field: error.field }).toEqual({ key, status: 400, field: 'api_key' });
      expect(error.message, key).toContain(reason);
      expect(error.message, key).not.toMatch(/MARK/);
    }
    expect(JSON.parse((await admin.get('/api/admin/jobs?category=dedalus-save')).body).jobs).toEqual([]);
    const db = new Database(join(app.dataDir, 'app.db'), { readonly: true });
    expect(db.prepare("SELECT value FROM settings WHERE name = 'dedalus_api_key'").get()).toBeUndefined();
    db.close();
    for (const [where, text] of Object.entries(await everywhere())) expect(text, where).not.toMatch(/MARK/);
  });

  it('never writes a saved key into a job, even when the service quotes it in its error', async () => {
    const key = 'dsk-ECHOMARK-0123456789abcdef';
    const answer = await saveKey(key);
    expect(answer.status).toBe(202);
    const { job } = JSON.parse(answer.body) as { job: { id: string } };
    let message = '';
    await waitFor(
      async () => {
        const detail = JSON.parse((await admin.get(`/api/admin/jobs/${job.id}/detail`)).body);
        message = detail.job.message ?? '';
        return detail.job.state === 'error';
      },
      'the save to fail',
      10_000,
    );
    expect(message).toBe(
      'Saved, but not verified: Dedalus answered 400: The API key dsk-••••••••cdef does not belong to this workspace',
    );
    await stream.until(() => stream.raw.includes('does not belong'), 'the failure on the stream');
    for (const [where, text] of Object.entries(await everywhere())) expect(text, where).not.toMatch(/ECHOMARK/);
  });
});
