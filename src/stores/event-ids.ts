import { customAlphabet } from 'nanoid';

const epochId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 10);

/**
 * Event ids are `<epoch>-<sequence>`. The epoch is new on every open, so an id from an earlier process
 * (or a store that lost its history) is recognisably foreign and gets a resync, never a wrong replay.
 */
export interface EventIdSequence {
  readonly epoch: string;
  next(): string;
  head(): string;
}

export function createEventIdSequence(): EventIdSequence {
  const epoch = epochId();
  let sequence = 0;
  return {
    epoch,
    next: () => `${epoch}-${++sequence}`,
    head: () => `${epoch}-${sequence}`,
  };
}
