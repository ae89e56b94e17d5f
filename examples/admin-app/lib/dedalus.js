import Dedalus from 'dedalus-labs';

export const DEDALUS_CATEGORIES = ['dedalus-verify', 'dedalus-save'];
export const DEDALUS_TARGET = { service: 'dedalus' };

/** Shows a key only as its first 4 and last 4 characters. */
export function maskKey(key) {
  if (!key) return null;
  if (key.length < 12) return '••••••••';
  return `${key.slice(0, 4)}••••••••${key.slice(-4)}`;
}

/** Refuses a key that cannot be one, and says why. */
export function checkKey(value) {
  if (typeof value !== 'string' || value.trim() === '') return 'Enter an API key';
  if (value.length > 500) return 'The API key is longer than 500 characters';
  if (/\s/.test(value.trim())) return 'The API key must not contain spaces';
  return null;
}

/** The SDK's errors, in words an admin can act on. */
function explain(error, baseURL) {
  if (error instanceof Dedalus.AuthenticationError) return 'Dedalus refused the API key (401 Unauthorized)';
  if (error instanceof Dedalus.PermissionDeniedError) return 'The API key may not list models (403 Forbidden)';
  if (error instanceof Dedalus.APIConnectionTimeoutError) return `Dedalus at ${baseURL} did not answer in time`;
  if (error instanceof Dedalus.APIConnectionError) return `Could not reach Dedalus at ${baseURL}`;
  if (error instanceof Dedalus.APIError) return `Dedalus answered ${error.status}: ${error.message}`;
  return error?.message ?? String(error);
}

/**
 * The Dedalus settings (the API key in the instance's SQLite settings, never shown back whole) and the
 * two jobs that talk to the service through the real SDK.
 */
export function createDedalus({ settings, baseURL }) {
  async function listModels(apiKey, signal) {
    const client = new Dedalus({ apiKey, baseURL, maxRetries: 0, timeout: 10_000 });
    try {
      const page = await client.models.list({ signal });
      return page.data.length;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new Error(explain(error, baseURL), { cause: error });
    }
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
    clear() {
      settings.set('dedalus_api_key', null);
      settings.set('dedalus_verified_at', null);
      settings.set('dedalus_saved_at', null);
    },

    /** Verify connection: lists models with the saved key. */
    async verify(ctx) {
      const key = settings.get('dedalus_api_key');
      if (!key) throw new Error('No API key is saved: save one first');
      ctx.progress(null, { phase: 'calling', message: `Listing models at ${baseURL} with key ${maskKey(key)}…` });
      const models = await listModels(key, ctx.signal);
      const at = new Date().toISOString();
      settings.set('dedalus_verified_at', at);
      ctx.update({
        message: `Connected: ${models} models available. Verified at ${at.replace('T', ' ').slice(0, 19)} UTC.`,
      });
      return { models, verifiedAt: at };
    },

    /**
     * Save API key: stores the key (unverified), then verifies it. A key that fails verification stays
     * saved but unverified ("verified at" is cleared), so a service outage does not lose it.
     */
    async save(ctx, apiKey) {
      ctx.progress(0.2, { phase: 'saving', message: 'Saving the key…' });
      settings.set('dedalus_api_key', apiKey);
      settings.set('dedalus_saved_at', new Date().toISOString());
      settings.set('dedalus_verified_at', null);
      ctx.progress(0.5, { phase: 'verifying', message: `Verifying ${maskKey(apiKey)} at ${baseURL}…` });
      let models;
      try {
        models = await listModels(apiKey, ctx.signal);
      } catch (error) {
        throw new Error(`Saved, but not verified: ${error.message}`, { cause: error });
      }
      const at = new Date().toISOString();
      settings.set('dedalus_verified_at', at);
      ctx.update({ message: `Saved and verified: ${models} models available.` });
      return { models, verifiedAt: at };
    },
  };
}
