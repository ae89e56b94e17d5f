/**
 * The tile's stylesheet. The element uses it in its shadow root (`light = false`); the server markup
 * uses the same rules scoped to `job-status` (`light = true`), which is what keeps the box the same
 * size before and after the element upgrades.
 */
export function tileCss(light: boolean): string {
  const host = (attribute = '') => (light ? `job-status${attribute}` : attribute ? `:host(${attribute})` : ':host');
  const s = light ? 'job-status ' : '';
  const colors = (states: string[], name: string, bg: string, fg: string) =>
    `${states.map((state) => host(`[state=${state}]`)).join(',')}{--_bg:var(--job-status-${name}-background,${bg});--_fg:var(--job-status-${name}-color,${fg})}`;
  return [
    `${host()}{display:block;box-sizing:border-box;color:var(--job-status-color,inherit);background:var(--job-status-background,#fff);border:var(--job-status-border,1px solid #d0d7de);border-radius:var(--job-status-radius,8px);padding:var(--job-status-padding,12px 14px);line-height:1.4;font-family:var(--job-status-font,inherit);--_bg:var(--job-status-idle-background,#eaeef2);--_fg:var(--job-status-idle-color,#424a53)}`,
    colors(['queued', 'pending'], 'waiting', '#fff8c5', '#7d4e00'),
    colors(['running'], 'running', '#ddf4ff', '#0550ae'),
    colors(['success'], 'success', '#dafbe1', '#116329'),
    colors(['warning'], 'warning', '#fff1e5', '#953800'),
    colors(['error'], 'error', '#ffebe9', '#a40e26'),
    `${host('[hidden]')}{display:none}`,
    `${s}.rj-tile,${s}.rj-label,${s}.rj-description,${s}.rj-status,${s}.rj-meta,${s}.rj-meta>div,${s}.rj-connection{display:block;margin:0;padding:0;border:0}`,
    `${s}.rj-label{font-weight:600}`,
    // A long unbroken word (a category as the label) wraps rather than overflow the tile.
    `${s}.rj-label,${s}.rj-description{overflow-wrap:anywhere}`,
    `${s}.rj-description,${s}.rj-meta,${s}.rj-connection{color:var(--job-status-muted-color,#57606a);font-size:.875em}`,
    `${s}.rj-status{display:flex;gap:8px;align-items:baseline;margin-top:8px}`,
    `${s}.rj-badge{flex:none;margin:0;padding:0 8px;border-radius:999px;font-size:.75em;font-weight:600;line-height:1.8;background:var(--_bg);color:var(--_fg)}`,
    `${s}.rj-message{margin:0;padding:0;min-width:0;overflow-wrap:anywhere;white-space:pre-line}`,
    `${s}.rj-progress{display:block;box-sizing:border-box;width:100%;height:6px;margin:8px 0 0;padding:0;border:0;border-radius:3px;appearance:none;overflow:hidden;background:var(--job-status-track-color,#eaeef2);color:var(--job-status-bar-color,#0969da)}`,
    `${s}.rj-progress::-webkit-progress-bar{background:transparent}`,
    `${s}.rj-progress::-webkit-progress-value{background:var(--job-status-bar-color,#0969da)}`,
    `${s}.rj-progress::-moz-progress-bar{background:var(--job-status-bar-color,#0969da)}`,
    `${s}.rj-progress:indeterminate{background:linear-gradient(90deg,var(--job-status-track-color,#eaeef2) 30%,var(--job-status-bar-color,#0969da) 50%,var(--job-status-track-color,#eaeef2) 70%) 0 0/300% 100%;animation:rj-slide 1.5s linear infinite}`,
    '@keyframes rj-slide{from{background-position:100% 0}to{background-position:0 0}}',
    `@media (prefers-reduced-motion:reduce){${s}.rj-progress:indeterminate{animation:none}}`,
    `${s}.rj-meta,${s}.rj-connection{margin-top:8px}`,
    `${s}.rj-meta>div{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}`,
    `${s}.rj-meta time{font:inherit}`,
  ].join('');
}

/**
 * The badge colour rules of {@link tileCss} (`--_bg` / `--_fg`, themable through the same
 * `--job-status-<tone>-background` / `-color` properties) for another selector: `<job-list>` gives its
 * badges the tiles' colours. `idle` (also `cancelled`) is the default the others override. The tile
 * keeps its own copy of these rules (sharing the code costs the tile bundle bytes it does not have);
 * a unit test holds the two equal.
 */
export function stateTones(select: (state: string) => string): string {
  const colors = (states: string[], name: string, bg: string, fg: string) =>
    `${states.map(select).join(',')}{--_bg:var(--job-status-${name}-background,${bg});--_fg:var(--job-status-${name}-color,${fg})}`;
  return (
    colors(['queued', 'pending'], 'waiting', '#fff8c5', '#7d4e00') +
    colors(['running'], 'running', '#ddf4ff', '#0550ae') +
    colors(['success'], 'success', '#dafbe1', '#116329') +
    colors(['warning'], 'warning', '#fff1e5', '#953800') +
    colors(['error'], 'error', '#ffebe9', '#a40e26')
  );
}

/** The idle badge colours, as the `--_bg` / `--_fg` the badge rule reads (the tile's default). */
export const IDLE_TONE = '--_bg:var(--job-status-idle-background,#eaeef2);--_fg:var(--job-status-idle-color,#424a53)';
