/**
 * Where the browser does not keep what the reader looks at in place when content is added above it
 * (no scroll anchoring: Safari, or a page with `overflow-anchor: none`), this does it for new rows:
 * call before rendering; the function it returns, called after, scrolls the page by as much as the
 * first row in view moved. Null when there is nothing to do.
 */
export function holdScroll(root: ParentNode): (() => void) | null {
  const scroller = globalThis.document?.scrollingElement;
  if (!scroller || getComputedStyle(scroller).overflowAnchor === 'auto') return null;
  for (const row of root.querySelectorAll<HTMLElement>('tr[data-job-id]')) {
    const top = row.getBoundingClientRect().top;
    if (top < 0) continue;
    if (top >= innerHeight) return null;
    return () => {
      const moved = row.isConnected ? row.getBoundingClientRect().top - top : 0;
      if (moved) scrollBy(0, moved);
    };
  }
  return null;
}
