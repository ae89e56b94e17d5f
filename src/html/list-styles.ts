import { IDLE_TONE, stateTones } from './styles.js';

/**
 * The job list's stylesheet. The element uses it in its shadow root (`light = false`); the server
 * markup uses the same rules scoped to `job-list` (`light = true`), so the table has the same box
 * before and after the element upgrades. Badge colours come from the tile's (`stateTones`).
 */
export function listCss(light: boolean): string {
  const host = light ? 'job-list' : ':host';
  const s = light ? 'job-list ' : '';
  const v = (name: string, fallback: string) => `var(--job-list-${name},${fallback})`;
  const border = v('border-color', '#d0d7de');
  const muted = v('muted-color', '#57606a');
  const control = `font:inherit;font-size:.875rem;line-height:1.5;border:1px solid ${border};border-radius:6px;color:inherit`;
  return [
    `${host}{display:block;box-sizing:border-box;color:${v('color', 'inherit')};background:${v('background', 'transparent')};font-family:${v('font', 'inherit')};line-height:1.4}`,
    light ? 'job-list[hidden]{display:none}' : ':host([hidden]){display:none}',
    `${s}.rj-filters{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:end;margin:0 0 12px}`,
    `${s}.rj-filters label{display:flex;flex-direction:column;gap:2px;font-size:.875rem;color:${muted}}`,
    `${s}.rj-filters input,${s}.rj-filters select{${control};padding:3px 6px;background:${v('input-background', '#fff')}}`,
    `${s}.rj-button{${control};padding:2px 10px;margin:0;background:${v('button-background', '#f6f8fa')};cursor:pointer}`,
    `${s}.rj-button:disabled{opacity:.6;cursor:default}`,
    `${s}.rj-table{width:100%;border-collapse:collapse;font-size:.875rem}`,
    `${s}.rj-table caption{text-align:left;font-weight:600;font-size:1rem;padding:0 0 8px}`,
    `${s}.rj-table th,${s}.rj-table td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid ${border}}`,
    `${s}.rj-table thead th{background:${v('header-background', '#f6f8fa')};white-space:nowrap}`,
    // Categories and targets are words of the job's data, up to hundreds of characters with no space:
    // they wrap rather than push the table past its box (a short one never breaks: `min-width`).
    `${s}.rj-table tbody th{font-weight:600}`,
    `${s}.rj-table tbody th,${s}.rj-target{min-width:8em;overflow-wrap:anywhere}`,
    `${s}.rj-badge{display:inline-block;padding:0 8px;border-radius:999px;font-size:.75rem;font-weight:600;line-height:1.8;white-space:nowrap;${IDLE_TONE};background:var(--_bg);color:var(--_fg)}`,
    stateTones((state) => `${s}.rj-badge[data-state=${state}]`),
    `${s}.rj-message{min-width:12em;overflow-wrap:anywhere;white-space:pre-line}`,
    `${s}.rj-when{white-space:nowrap;font-variant-numeric:tabular-nums}`,
    `${s}.rj-when time{font:inherit}`,
    `${s}.rj-progress{display:block;box-sizing:border-box;width:6em;height:6px;margin:7px 0 0;padding:0;border:0;border-radius:3px;appearance:none;overflow:hidden;background:var(--job-status-track-color,#eaeef2);color:var(--job-status-bar-color,#0969da)}`,
    `${s}.rj-progress::-webkit-progress-bar{background:transparent}`,
    `${s}.rj-progress::-webkit-progress-value{background:var(--job-status-bar-color,#0969da)}`,
    `${s}.rj-progress::-moz-progress-bar{background:var(--job-status-bar-color,#0969da)}`,
    `${s}.rj-toggle{font:inherit;line-height:inherit;margin:0;padding:0;border:0;background:none;color:${v('link-color', '#0969da')};text-align:left;text-decoration:underline;cursor:pointer}`,
    // Buttons wrap rather than push the table past its box.
    `${s}.rj-actions .rj-button{margin:0 4px 4px 0}`,
    `${s}.rj-error{display:block;color:${v('error-color', '#a40e26')};white-space:normal;overflow-wrap:anywhere}`,
    `${s}.rj-detail>td{background:${v('detail-background', '#f6f8fa')}}`,
    `${s}.rj-detail dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:4px 12px;margin:0}`,
    `${s}.rj-detail dt{font-weight:600}`,
    `${s}.rj-detail dd{margin:0;min-width:0;overflow-wrap:anywhere}`,
    // An error's code and message are the job's words: an override character in one must not reorder the rest.
    `${s}.rj-detail code{unicode-bidi:isolate}`,
    `${s}.rj-detail pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8125rem}`,
    `${s}.rj-log-title{font-weight:600;margin:10px 0 4px}`,
    `${s}.rj-log{list-style:none;margin:0;padding:6px 8px;max-height:16em;overflow:auto;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8125rem;background:${v('background', '#fff')};border:1px solid ${border};border-radius:6px}`,
    `${s}.rj-log li{white-space:pre-wrap;overflow-wrap:anywhere}`,
    `${s}.rj-log [data-level=warn]{color:#953800}`,
    `${s}.rj-log [data-level=error]{color:${v('error-color', '#a40e26')}}`,
    `${s}.rj-log [data-level=debug],${s}.rj-muted,${s}.rj-notice{color:${muted}}`,
    `${s}.rj-notice{font-size:.875rem;margin:8px 0 0}`,
    `${s}.rj-empty{text-align:center;padding:16px 8px}`,
    `${s}.rj-pages{display:flex;gap:16px;margin:8px 0 0;font-size:.875rem}`,
    `${s}.rj-pages a{color:${v('link-color', '#0969da')}}`,
    `${s}:is(a,button,input,select,[tabindex]):focus-visible{outline:2px solid ${v('focus-color', '#0969da')};outline-offset:2px}`,
    `${s}.rj-sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}`,
  ].join('');
}
