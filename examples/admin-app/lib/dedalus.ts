import Dedalus from 'dedalus-labs';
import type { JobContext } from 'realtime-jobs';
import type { Settings } from './db.js';

export const DEDALUS_CATEGORIES: readonly string[] = ['dedalus-verify', 'dedalus-save'];
export const DEDALUS_TARGET = { service: 'dedalus' };

/** `dedalus-save` is started with the masked form of the key the route stored; `dedalus-verify` with nothing. */
export type SaveInput = { maskedKey: string };
export type VerifyInput = Record<string, never>;
export type CheckResult = { models: number; verifiedAt: string };
/** What the calls use of either job's context. */
type CallContext = Pick<JobContext, 'log' | 'signal' | 'progress' | 'warn'>;

/** Shows a key only as its first 4 and last 4 characters. */
export function maskKey(key: string): string;
export function maskKey(key: string | null): string | null;
export function maskKey(key: string | null): string | null {
  if (!key) return null;
  if (key.length < 12) return '••••••••';
  return `${key.slice(0, 4)}••••••••${key.slice(-4)}`;
}

export const KEY_LENGTH = { min: 16, max: 200 };

/**
 * Refuses a key that cannot be one, and says why, never quoting it: a key goes into an HTTP header,
 * so it is printable ASCII without spaces (a control character could end the header, or hide in a
 * log line), and of a sensible length.
 */
export function checkKey(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return 'Enter an API key.';
  const characters = [...value];
  for (const [index, character] of characters.entries()) {
    const code = character.codePointAt(0) ?? 0;
    const which = `character ${index + 1}`;
    if (code === 0x20) return `The API key must not contain spaces (${which} is one).`;
    if (code < 0x20 || code === 0x7f) {
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      return `The API key must be printable: ${which} is a control character (U+${hex}).`;
    }
    if (code > 0x7e) return `The API key must be printable ASCII: ${which} is not ASCII.`;
  }
  if (characters.length < KEY_LENGTH.min) {
    return `The API key is too short: ${characters.length} characters, keys have at least ${KEY_LENGTH.min}.`;
  }
  if (characters.length > KEY_LENGTH.max) {
    return `The API key is too long: ${characters.length} characters, at most ${KEY_LENGTH.max}.`;
  }
  return null;
}

/**
 * `text` with every copy of `key` in it masked: a service (or the SDK) may quote the key it was given
 * in an error, and the error becomes a job's message, which the job API, the stream, the job log and
 * the run log all keep. Its JSON- and URL-escaped forms are masked too.
 */
export function withoutKey(text: string, key: string | null): string {
  if (!key) return text;
  const forms = new Set([key, JSON.stringify(key).slice(1, -1), encodeURIComponent(key)]);
  let out = text;
  for (const form of forms) out = out.split(form).join(maskKey(key));
  return out;
}

/** What the service said in an error body (`{"error":{"message":…}}` or `{"message":…}`), if anything. */
function serviceMessage(body: unknown): string | null {
  const shaped = body as { error?: { message?: unknown }; message?: unknown } | null | undefined;
  const said = shaped?.error?.message ?? shaped?.message;
  return typeof said === 'string' ? said : null;
}

/**
 * The SDK's errors, in words an admin can act on. An error of unknown kind says only its name: its
 * message may hold anything, the request's headers included.
 */
function explain(error: unknown, baseURL: string): string {
  if (error instanceof Dedalus.AuthenticationError) return 'Dedalus refused the API key (401 Unauthorized)';
  if (error instanceof Dedalus.PermissionDeniedError) return 'The API key may not list models (403 Forbidden)';
  if (error instanceof Dedalus.APIConnectionTimeoutError) return `Dedalus at ${baseURL} did not answer in time`;
  if (error instanceof Dedalus.APIConnectionError) return `Could not reach Dedalus at ${baseURL}`;
  if (error instanceof Dedalus.APIError) {
    const said = serviceMessage(error.error);
    return `Dedalus answered ${error.status}${said ? `: ${said}` : ''}`;
  }
  return `The call to Dedalus failed (${error instanceof Error ? error.name : 'unknown error'})`;
}

/**
 * The Dedalus settings (the API key in the instance's SQLite settings, never shown back whole) and the
 * work of the two jobs that talk to the service through the real SDK (`lib/definitions.ts` registers
 * them).
 */
export type DedalusService = ReturnType<typeof createDedalus>;

export function createDedalus({ settings, baseURL }: { settings: Settings; baseURL: string }) {
  /** Lists the models with this key; every HTTP request the SDK makes is a line in the job's log. */
  async function listModels(ctx: CallContext, apiKey: string): Promise<number> {
    let requests = 0;
    const client = new Dedalus({
      apiKey,
      baseURL,
      // The SDK retries what may pass (a dropped connection, a timeout, 408, 429, 5xx) twice, with
      // backoff, and never a refused key (401, 403): it tells the two apart, the job cannot.
      maxRetries: 2,
      timeout: 10_000,
      fetch: (url, init) => {
        requests += 1;
        ctx.log(`GET ${url}${requests > 1 ? ` (try ${requests})` : ''}`);
        return fetch(url, init);
      },
    });
    try {
      const page = await client.models.list({ signal: ctx.signal });
      return page.data.length;
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // No `cause`: the SDK's error carries the request, key included.
      throw new Error(withoutKey(explain(error, baseURL), apiKey));
    }
  }

  /** Lists the models with `key`; records "verified at" only if `key` is still the saved key. */
  async function check(ctx: CallContext, key: string): Promise<CheckResult> {
    ctx.progress(null, { phase: 'calling', message: `Listing models at ${baseURL} with key ${maskKey(key)}…` });
    ctx.log(`Listing models at ${baseURL} with key ${maskKey(key)}`);
    const models = await listModels(ctx, key);
    ctx.log(`Dedalus accepted the key: ${models} models available`);
    const verifiedAt = new Date().toISOString();
    if (settings.get('dedalus_api_key') === key) {
      settings.set('dedalus_verified_at', verifiedAt);
    } else {
      ctx.warn(`Verified ${maskKey(key)}, but another key was saved meanwhile: verify that one.`);
    }
    return { models, verifiedAt };
  }

  return {
    baseURL,
    state() {
      const key = settings.get('dedalus_api_key');
      return {
        hasKey: key !== null,
        maskedKey: maskKey(key),
        verifiedAt: settings.get('dedalus_verified_at'),
        savedAt: settings.get('dedalus_saved_at'),
      };
    },
    /**
     * Save API key, first half (the route's, at once): stores the key unverified. The key is never a
     * job's input, which the job API shows and the job log keeps; the job gets its masked form.
     */
    store(apiKey: string): string {
      settings.set('dedalus_api_key', apiKey);
      settings.set('dedalus_saved_at', new Date().toISOString());
      settings.set('dedalus_verified_at', null);
      return maskKey(apiKey);
    },
    clear() {
      settings.set('dedalus_api_key', null);
      settings.set('dedalus_verified_at', null);
      settings.set('dedalus_saved_at', null);
    },

    /** Verify connection (`dedalus-verify`): lists models with the saved key. */
    async verify(ctx: JobContext<VerifyInput, CheckResult>): Promise<CheckResult> {
      const key = settings.get('dedalus_api_key');
      if (!key) throw new Error('No API key is saved: save one first');
      const result = await check(ctx, key);
      const at = result.verifiedAt.replace('T', ' ').slice(0, 19);
      ctx.update({ message: `Connected: ${result.models} models available. Verified at ${at} UTC.` });
      return result;
    },

    /**
     * Save API key, second half (`dedalus-save`, input `{ maskedKey }`): verifies the key the route
     * stored. A key that fails stays saved but unverified, so a service outage does not lose it.
     */
    async save(ctx: JobContext<SaveInput, CheckResult>): Promise<CheckResult> {
      const key = settings.get('dedalus_api_key');
      if (!key || maskKey(key) !== ctx.input.maskedKey) {
        throw new Error(`The saved key is no longer ${ctx.input.maskedKey}: nothing verified`);
      }
      ctx.log(`Saved key ${ctx.input.maskedKey}; "verified at" cleared until it passes`);
      let result: CheckResult;
      try {
        result = await check(ctx, key);
      } catch (error) {
        throw new Error(`Saved, but not verified: ${(error as Error).message}`, { cause: error });
      }
      ctx.update({ message: `Saved and verified: ${result.models} models available.` });
      return result;
    },
  };
}
