/** The 64 URL-safe characters in code-unit order, so ids compare as strings in the order they encode. */
const DIGITS = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
const TIME_DIGITS = 8; // 48 bits of milliseconds
/**
 * Added to the time so an id never starts with `-` (the lowest digit), which command lines read as an
 * option: ids start with `F` until 2109, then `G`, for thousands of years.
 */
const TIME_OFFSET = 16 * 64 ** 7;
const RANDOM_DIGITS = 13; // 78 random bits: as unguessable as a UUID's random part

/**
 * Job ids that sort by creation: 8 characters of the creation millisecond, then 13 random ones (21 in
 * all, nanoid's length and alphabet). Within one millisecond the random part counts up from the
 * previous id's, so the jobs one instance creates in a burst keep their order wherever jobs are sorted
 * by `queuedAt` then id (lists, pages, snapshots), while every instance still agrees on that order.
 */
export function createJobIdSource(): (ms: number) => string {
  let lastMs = -1;
  const random = new Uint8Array(RANDOM_DIGITS);
  return (ms) => {
    // A clock that steps back keeps the last millisecond: ids never go backwards on one instance.
    if (ms > lastMs) {
      lastMs = ms;
      crypto.getRandomValues(random);
      for (let i = 0; i < RANDOM_DIGITS; i++) random[i] = (random[i] as number) & 63;
      // Room to count up: the first digit stays in the lower half, so ~2^77 increments never overflow.
      random[0] = (random[0] as number) & 31;
    } else {
      increment(random);
    }
    let id = '';
    for (let i = TIME_DIGITS - 1, rest = lastMs + TIME_OFFSET; i >= 0; i--, rest = Math.floor(rest / 64)) {
      id = DIGITS[rest % 64] + id;
    }
    for (const digit of random) id += DIGITS[digit];
    return id;
  };
}

function increment(digits: Uint8Array) {
  for (let i = digits.length - 1; i >= 0; i--) {
    digits[i] = ((digits[i] as number) + 1) & 63;
    if (digits[i] !== 0) return;
  }
}
