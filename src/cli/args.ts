import { InvalidArgumentError } from 'commander';
import { DEFAULT_LIMITS, JOB_ID_PATTERN, NAME_CHARACTERS, NAME_PATTERN } from '../protocol/job.js';
import { DEFAULT_PREFIX, MAX_JOB_IDS } from '../protocol/wire.js';

// Argument parsers for commander: each takes the raw text (and, for a repeatable option, what the
// earlier ones gave) and returns the value, or throws an InvalidArgumentError that commander prints
// after the option's name: "option '--target <field=value>' argument 'peer' is invalid. …".

const EXAMPLE_ROUTES = `http://localhost:3000${DEFAULT_PREFIX}`;

function httpUrl(value: string, example: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`It must be an absolute URL, e.g. ${example}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`It must be an http:// or https:// URL, e.g. ${example}`);
  }
  // fetch refuses such a URL on every request, which would only show as "cannot reach" later.
  if (url.username || url.password) {
    throw new InvalidArgumentError(
      'It cannot hold a user name or password: send them with --header, e.g. "Authorization: Basic <base64 of user:password>"',
    );
  }
  url.hash = '';
  url.search = '';
  return url;
}

/** The job routes' URL (what `tail` follows): absolute, http(s), without query or trailing slash. */
export function parseRoutesUrl(value: string): string {
  return httpUrl(value, EXAMPLE_ROUTES).href.replace(/\/+$/, '');
}

/** A job's URL (what `wait` follows), split into the routes' URL and the job's id. */
export interface JobUrl {
  routes: string;
  id: string;
}

/** `http://host/api/admin/jobs/<id>`: the routes are everything before the last path segment. */
export function parseJobUrl(value: string): JobUrl {
  const example = `${EXAMPLE_ROUTES}/<job id>`;
  const url = httpUrl(value, example);
  const path = url.pathname;
  const slash = path.lastIndexOf('/');
  const id = path.slice(slash + 1);
  if (slash <= 0 || !JOB_ID_PATTERN.test(id) || id === 'events') {
    throw new InvalidArgumentError(`It must be the URL of one job: the routes' URL and the job's id, e.g. ${example}`);
  }
  url.pathname = path.slice(0, slash);
  return { routes: url.href, id };
}

/** An HTTP header name: a token (RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `Name: value`, repeatable: sent with every request (`Authorization: Bearer …`, `Cookie: sid=…`). */
export function parseHeader(value: string, previous: Array<[string, string]> = []): Array<[string, string]> {
  const colon = value.indexOf(':');
  const name = value.slice(0, Math.max(colon, 0)).trim();
  const text = value.slice(colon + 1).trim();
  if (colon < 0 || !HEADER_NAME.test(name)) {
    throw new InvalidArgumentError(`It must be "Name: value", e.g. "Authorization: Bearer <token>"`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(text)) {
    throw new InvalidArgumentError('A header value cannot hold line breaks or control characters');
  }
  // Header values are bytes: fetch refuses any character past U+00FF, on every request.
  if (/[^\u0020-\u00ff\t]/.test(text)) {
    throw new InvalidArgumentError(
      'A header value holds Latin-1 characters only: encode others (e.g. percent-encoding)',
    );
  }
  return [...previous, [name, text]];
}

/** A category, repeatable (values OR), checked as the routes check it. */
export function parseCategory(value: string, previous: string[] = []): string[] {
  if (!NAME_PATTERN.test(value) || value.length > DEFAULT_LIMITS.categoryLength) {
    throw new InvalidArgumentError(`A category is 1–${DEFAULT_LIMITS.categoryLength} characters: ${NAME_CHARACTERS}`);
  }
  return [...previous, value];
}

/** A job id, repeatable (values OR), at most as many as the routes take. */
export function parseJobId(value: string, previous: string[] = []): string[] {
  if (!JOB_ID_PATTERN.test(value)) {
    throw new InvalidArgumentError('A job id is 1–64 characters: letters, digits, _ and -');
  }
  if (previous.length >= MAX_JOB_IDS) throw new InvalidArgumentError(`At most ${MAX_JOB_IDS} job ids`);
  return [...previous, value];
}

/** `field=value`, repeatable: values of one field OR, fields AND. */
export function parseTarget(value: string, previous: Record<string, string[]> = {}): Record<string, string[]> {
  const equals = value.indexOf('=');
  const field = value.slice(0, Math.max(equals, 0));
  const wanted = value.slice(equals + 1);
  if (equals < 0 || !NAME_PATTERN.test(field) || field.length > DEFAULT_LIMITS.targetKeyLength) {
    throw new InvalidArgumentError(`It must be field=value, e.g. peer=peer-a; the field holds ${NAME_CHARACTERS}`);
  }
  if (wanted.length > DEFAULT_LIMITS.targetValueLength) {
    throw new InvalidArgumentError(`A target value is at most ${DEFAULT_LIMITS.targetValueLength} characters`);
  }
  // A fresh object without a prototype: a field called `__proto__` or `toString` is just a field.
  const target: Record<string, string[]> = Object.assign(Object.create(null), previous);
  target[field] = [...(target[field] ?? []), wanted];
  return target;
}

/** The longest wait a timer takes (setTimeout's limit), in seconds. */
const MAX_SECONDS = 2_147_483;

/** A duration in seconds: a number above 0 (decimals allowed), returned in milliseconds. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_SECONDS) {
    throw new InvalidArgumentError(`It must be a number of seconds above 0 (up to ${MAX_SECONDS}), e.g. 30 or 0.5`);
  }
  return Math.max(1, Math.round(seconds * 1000));
}

/** An exit code: a whole number from 0 to 255. */
export function parseExitCode(value: string): number {
  if (!/^\d{1,3}$/.test(value) || Number(value) > 255) {
    throw new InvalidArgumentError('It must be a whole number from 0 to 255');
  }
  return Number(value);
}
