// The few ANSI sequences the commands need (ECMA-48 and the DEC private modes every terminal
// emulator takes), and the full-screen view `tail` draws on a terminal.

const CSI = '\u001b[';
export const ANSI = {
  hideCursor: `${CSI}?25l`,
  showCursor: `${CSI}?25h`,
  /** Lines longer than the terminal are clipped instead of wrapped, so a frame never scrolls. */
  wrapOff: `${CSI}?7l`,
  wrapOn: `${CSI}?7h`,
  alternateScreen: `${CSI}?1049h`,
  mainScreen: `${CSI}?1049l`,
  clearLine: `${CSI}2K`,
  clearBelow: `${CSI}J`,
  moveTo: (row: number) => `${CSI}${row};1H`,
} as const;

/** A full-screen view: the alternate screen (as `top` and `less` use), redrawn in place. */
export interface Screen {
  readonly width: number;
  readonly height: number;
  draw(lines: readonly string[]): void;
  /** Gives the terminal back as it was: main screen, cursor shown, wrapping on. Safe to call twice. */
  close(): void;
}

export function openScreen(out: NodeJS.WriteStream): Screen {
  let open = true;
  out.write(ANSI.alternateScreen + ANSI.hideCursor + ANSI.wrapOff);
  return {
    get width() {
      return out.columns || 80;
    },
    get height() {
      return out.rows || 24;
    },
    draw(lines) {
      if (!open) return;
      // One write per frame, each line cleared before it is written: no flicker, no leftovers.
      let frame = '';
      for (const [index, line] of lines.entries()) frame += ANSI.moveTo(index + 1) + ANSI.clearLine + line;
      if (lines.length < this.height) frame += ANSI.moveTo(lines.length + 1) + ANSI.clearBelow;
      out.write(frame);
    },
    close() {
      if (!open) return;
      open = false;
      out.write(ANSI.wrapOn + ANSI.showCursor + ANSI.mainScreen);
    },
  };
}

/**
 * Reads keys from a terminal without echoing them: Ctrl-C and `q` call `onKey`. Raw mode turns the
 * terminal's own Ctrl-C into a byte, so it is handled here. Returns the function that gives the
 * terminal its line mode back.
 */
export function readKeys(input: NodeJS.ReadStream, onKey: (key: 'interrupt' | 'quit') => void): () => void {
  if (!input.isTTY) return () => {};
  input.setRawMode(true);
  input.resume();
  const onData = (data: Buffer) => {
    const text = data.toString('utf8');
    if (text.includes('\u0003')) onKey('interrupt');
    else if (text === 'q' || text === 'Q') onKey('quit');
  };
  input.on('data', onData);
  return () => {
    input.off('data', onData);
    input.setRawMode(false);
    input.pause();
  };
}
