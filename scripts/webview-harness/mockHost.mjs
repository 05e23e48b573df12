// The extension host, mocked inside the harness page (bundled to mock.js, loaded before
// webview.js). It records CSP violations, applies a theme the way VS Code does (variables on
// <html>, a class on <body>), provides acquireVsCodeApi, answers `ready` with `init`, and
// `requestHeatmap` / `requestValues` with synthetic data of the right shape (see synth.mjs).
import { heatmap, values } from './synth.mjs';
import { themes } from './themes.mjs';

const config = window.__HARNESS_CONFIG;
const harness = {
  csp: [],
  posted: [],
  replies: [],
  timings: { firstDraw: null },
  errors: [],
  state: undefined,
};
window.__harness = harness;

document.addEventListener('securitypolicyviolation', (e) => {
  harness.csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile, line: e.lineNumber });
});
window.addEventListener('error', (e) => harness.errors.push(String(e.message)));

function applyTheme(name) {
  const theme = themes[name];
  const root = document.documentElement;
  for (const [k, v] of Object.entries(theme.vars)) root.style.setProperty(k, v);
  root.style.colorScheme = name === 'light' ? 'light' : 'dark';
  const apply = () => {
    document.body.classList.remove('vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-high-contrast-light');
    document.body.classList.add(theme.bodyClass);
    document.body.dataset.vscodeThemeKind = theme.kind;
  };
  if (document.body) apply();
  else document.addEventListener('DOMContentLoaded', apply, { once: true });
}
applyTheme(config.theme);
harness.setTheme = applyTheme;

// State survives a reload within the tab (as VS Code keeps it while the webview is hidden).
const stateKey = `harness-state-${config.model}`;
try {
  const saved = sessionStorage.getItem(stateKey);
  if (saved) harness.state = JSON.parse(saved);
} catch {}

const specs = new Map(config.specs.map((s) => [s.name, s]));

function send(message) {
  window.dispatchEvent(new MessageEvent('message', { data: message }));
}
harness.send = send;

function reply(message) {
  const delay = config.latencyMs ?? 15;
  setTimeout(() => {
    const t0 = performance.now();
    let data;
    if (message.type === 'requestHeatmap') {
      const spec = specs.get(message.layer);
      const win = { rowStart: message.rowStart, rowEnd: message.rowEnd, colStart: message.colStart, colEnd: message.colEnd };
      const tile = heatmap(spec, win, message.width, message.height);
      data = { type: 'heatmap', requestId: message.requestId, layer: message.layer, window: win, ...tile };
    } else {
      const spec = specs.get(message.layer);
      const win = { rowStart: message.rowStart, rowEnd: message.rowEnd, colStart: message.colStart, colEnd: message.colEnd };
      data = { type: 'values', requestId: message.requestId, layer: message.layer, window: win, values: values(spec, win) };
    }
    const computeMs = performance.now() - t0;
    const sentAt = performance.now();
    harness.replies.push({ type: data.type, requestId: message.requestId, computeMs, at: sentAt });
    send(data);
    if (harness.timings.firstDraw === null) {
      const handledMs = performance.now() - sentAt;
      // The webview draws in its next animation frame, queued while it handled the message; this
      // callback is queued after it, so it runs once the first view is on the canvas.
      requestAnimationFrame(() => {
        const now = performance.now();
        const t = harness.timings;
        harness.timings.firstDraw = {
          sinceInit: now - t.initSent,
          // Webview time: init → its first request, and handling the reply (decode, colour, draw).
          initToRequestMs: t.firstRequest - t.initSent,
          replyHandledMs: handledMs,
          replyToFrameMs: now - sentAt,
          hostComputeMs: computeMs,
          hostLatencyMs: delay,
        };
      });
    }
  }, delay);
}

window.acquireVsCodeApi = () => ({
  postMessage(message) {
    harness.posted.push({ ...message, at: performance.now() });
    if (message.type === 'ready' && config.initError) {
      setTimeout(() => {
        send({ type: 'error', message: config.initError });
        harness.timings.firstDraw = { error: true };
      }, 5);
    } else if (message.type === 'ready') {
      setTimeout(() => {
        const layers = config.views.map((v) => (v.fanIn ? { ...v, fanIn: Uint32Array.from(v.fanIn) } : v));
        harness.timings.initSent = performance.now();
        send({ type: 'init', report: config.report, layers, settings: { maxHeatmapCells: config.maxHeatmapCells, zeroThreshold: config.zeroThreshold ?? 0 }, select: config.select });
      }, 5);
    } else if (message.type === 'requestHeatmap' || message.type === 'requestValues') {
      harness.timings.firstRequest ??= performance.now();
      reply(message);
    }
  },
  getState() {
    return harness.state;
  },
  setState(state) {
    harness.state = state;
    try {
      sessionStorage.setItem(stateKey, JSON.stringify(state));
    } catch {}
  },
});
