// The extension host, mocked inside the harness page (bundled to mock.js, loaded before
// webview.js). It records CSP violations, applies a theme the way VS Code does (variables on
// <html>, a class on <body>), provides acquireVsCodeApi, answers `ready` with `init`, and
// `heatmap` / `weightWindow` requests with synthetic data of the right shape (see synth.mjs).
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
} catch {
  // No sessionStorage (a sandboxed page): the state lives for this load only.
}

const specs = new Map(config.specs.map((s) => [s.name, s]));

function send(message) {
  window.dispatchEvent(new MessageEvent('message', { data: message }));
}
harness.send = send;

function reply(message) {
  const delay = config.latencyMs ?? 15;
  setTimeout(() => {
    const t0 = performance.now();
    const { layer, window: win, width, height } = message.params;
    const spec = specs.get(layer);
    const result = message.method === 'heatmap' ? heatmap(spec, win, width, height) : values(spec, win);
    const data = { rpc: 'reply', id: message.id, result };
    const computeMs = performance.now() - t0;
    const sentAt = performance.now();
    harness.replies.push({ method: message.method, id: message.id, computeMs, at: sentAt });
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
    const ready = message.rpc === 'notify' && message.method === 'ready';
    if (ready && config.initError) {
      setTimeout(() => {
        send({ rpc: 'notify', method: 'failed', params: { message: config.initError } });
        harness.timings.firstDraw = { error: true };
      }, 5);
    } else if (ready) {
      setTimeout(() => {
        // The host sends each weight's per-neuron figures by name.
        const neurons = config.views
          .filter((v) => v.fanIn)
          .map((v) => ({
            name: config.report.layers[v.index].name,
            geometry: { rows: v.rows, cols: v.cols, inDim: v.inDim, kernelPositions: Math.max(1, Math.round(v.cols / v.inDim)) },
            fanIn: Uint32Array.from(v.fanIn),
          }));
        harness.timings.initSent = performance.now();
        const settings = { maxHeatmapCells: config.maxHeatmapCells, zeroThreshold: config.zeroThreshold ?? 0 };
        send({ rpc: 'notify', method: 'init', params: { report: config.report, neurons, settings, select: config.select } });
      }, 5);
    } else if (message.rpc === 'request') {
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
    } catch {
      // As above: nothing to keep the state in.
    }
  },
});
