import http, { type IncomingHttpHeaders } from 'node:http';

export interface FormAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A browser without a browser, for tests that need no page: it keeps the cookies it is given, posts
 * forms with the CSRF token of the last page it read, and connects from `localAddress` (any of
 * 127.0.0.0/8 on Linux), so two clients can come from two addresses. Redirects are not followed.
 */
export class FormClient {
  readonly cookies = new Map<string, string>();
  /** The `_csrf` field of the last page read. */
  token = '';

  constructor(
    readonly base: string,
    readonly options: { localAddress?: string } = {},
  ) {}

  get(path: string, headers: Record<string, string> = {}): Promise<FormAnswer> {
    return this.send('GET', path, undefined, headers);
  }

  /** Posts `form` with the token of the last page read (unless `form` has its own `_csrf`). */
  post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<FormAnswer> {
    const body = new URLSearchParams({ _csrf: this.token, ...form }).toString();
    return this.send('POST', path, body, { 'content-type': 'application/x-www-form-urlencoded', ...headers });
  }

  /** The login form, read and posted: 303 when it let us in. */
  async logIn(username: string, password: string): Promise<FormAnswer> {
    await this.get('/login');
    return this.post('/login', { username, password });
  }

  private send(method: string, path: string, body: string | undefined, headers: Record<string, string>) {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    return new Promise<FormAnswer>((resolve, reject) => {
      const req = http.request(
        new URL(path, this.base),
        {
          method,
          agent: false,
          localAddress: this.options.localAddress,
          headers: { ...(cookie ? { cookie } : {}), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            for (const line of res.headers['set-cookie'] ?? []) {
              const [pair = ''] = line.split(';');
              const at = pair.indexOf('=');
              this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
            }
            const text = Buffer.concat(chunks).toString('utf8');
            const token = /name="_csrf" value="([^"]*)"/.exec(text)?.[1];
            if (token) this.token = token;
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}
