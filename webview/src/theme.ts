/**
 * Colours of the current VS Code theme, read from the CSS variables VS Code sets on the webview
 * (`--vscode-*` on <html>, theme kind as a class on <body>). Canvas drawing and chart.js need
 * concrete colours, so every variable is resolved to RGBA once per theme change.
 */

export type Rgba = readonly [number, number, number, number];

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export interface Theme {
  readonly kind: ThemeKind;
  readonly foreground: string;
  readonly muted: string;
  readonly background: string;
  readonly border: string;
  readonly grid: string;
  readonly focus: string;
  readonly blue: string;
  readonly orange: string;
  readonly red: string;
  readonly green: string;
  readonly purple: string;
  readonly yellow: string;
  readonly selection: string;
  readonly fontFamily: string;
  readonly fontSize: number;
  readonly monoFamily: string;
  /** The same colours as RGBA (alpha composited onto the background where it matters). */
  readonly rgba: {
    readonly background: Rgba;
    readonly foreground: Rgba;
    readonly blue: Rgba;
    readonly orange: Rgba;
    readonly red: Rgba;
    readonly green: Rgba;
    readonly purple: Rgba;
    readonly border: Rgba;
  };
}

let probe: CanvasRenderingContext2D | null = null;

/** Any CSS colour → [r, g, b, a] with a in 0..255 (null when the browser cannot parse it). */
export function parseColor(css: string): Rgba | null {
  const text = css.trim();
  if (!text) return null;
  if (!probe) {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    probe = canvas.getContext('2d', { willReadFrequently: true });
    if (!probe) return null;
  }
  // An invalid colour leaves fillStyle unchanged: detect it with two different sentinels.
  probe.fillStyle = '#010203';
  probe.fillStyle = text;
  const first = probe.fillStyle;
  probe.fillStyle = '#040506';
  probe.fillStyle = text;
  if (first !== probe.fillStyle) return null;
  probe.clearRect(0, 0, 1, 1);
  probe.fillRect(0, 0, 1, 1);
  const d = probe.getImageData(0, 0, 1, 1).data;
  return [d[0], d[1], d[2], d[3]];
}

/** `top` composited over the opaque `bottom`. */
export function over(top: Rgba, bottom: Rgba): Rgba {
  const a = top[3] / 255;
  return [
    Math.round(top[0] * a + bottom[0] * (1 - a)),
    Math.round(top[1] * a + bottom[1] * (1 - a)),
    Math.round(top[2] * a + bottom[2] * (1 - a)),
    255,
  ];
}

export function mix(a: Rgba, b: Rgba, t: number): Rgba {
  return [
    Math.round(a[0] + (b[0] - a[0]) * t),
    Math.round(a[1] + (b[1] - a[1]) * t),
    Math.round(a[2] + (b[2] - a[2]) * t),
    Math.round(a[3] + (b[3] - a[3]) * t),
  ];
}

export function css(c: Rgba, alpha = c[3] / 255): string {
  return `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${+alpha.toFixed(3)})`;
}

function themeKind(): ThemeKind {
  const list = document.body.classList;
  if (list.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (list.contains('vscode-high-contrast')) return 'high-contrast';
  if (list.contains('vscode-light')) return 'light';
  return 'dark';
}

/** Reads the theme now. Falls back to Dark/Light Modern colours for variables a theme leaves out. */
export function readTheme(): Theme {
  const kind = themeKind();
  const light = kind === 'light' || kind === 'high-contrast-light';
  const style = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;

  const background = v('--vscode-editor-background', light ? '#ffffff' : '#1f1f1f');
  const foreground = v('--vscode-foreground', light ? '#3b3b3b' : '#cccccc');
  const bgRgba = over(parseColor(background) ?? (light ? [255, 255, 255, 255] : [31, 31, 31, 255]), [0, 0, 0, 255]);
  const resolve = (name: string, fallback: string): Rgba => over(parseColor(v(name, fallback)) ?? parseColor(fallback)!, bgRgba);

  const muted = v('--vscode-descriptionForeground', light ? '#717171' : '#9d9d9d');
  const borderRaw = v('--vscode-panel-border', light ? '#e5e5e5' : '#2b2b2b');
  const fontSize = parseFloat(v('--vscode-font-size', '13px')) || 13;
  const rgba = {
    background: bgRgba,
    foreground: resolve('--vscode-foreground', light ? '#3b3b3b' : '#cccccc'),
    blue: resolve('--vscode-charts-blue', light ? '#1a85ff' : '#3794ff'),
    orange: resolve('--vscode-charts-orange', light ? '#d18616' : '#d18616'),
    red: resolve('--vscode-charts-red', light ? '#e51400' : '#f14c4c'),
    green: resolve('--vscode-charts-green', light ? '#388a34' : '#89d185'),
    purple: resolve('--vscode-charts-purple', light ? '#652d90' : '#b180d7'),
    border: resolve('--vscode-panel-border', light ? '#e5e5e5' : '#2b2b2b'),
  };
  return {
    kind,
    foreground,
    muted,
    background,
    border: borderRaw,
    grid: css(mix(rgba.background, rgba.foreground, light ? 0.1 : 0.12)),
    focus: v('--vscode-focusBorder', light ? '#005fb8' : '#0078d4'),
    blue: css(rgba.blue),
    orange: css(rgba.orange),
    red: css(rgba.red),
    green: css(rgba.green),
    purple: css(rgba.purple),
    yellow: v('--vscode-charts-yellow', light ? '#bf8803' : '#cca700'),
    selection: v('--vscode-list-activeSelectionBackground', light ? '#e8e8e8' : '#04395e'),
    fontFamily: v('--vscode-font-family', 'system-ui, sans-serif'),
    fontSize,
    monoFamily: v('--vscode-editor-font-family', 'monospace'),
    rgba,
  };
}

/**
 * Calls `onChange` (once per frame at most) when VS Code switches theme: it swaps the body class
 * and rewrites the variables in the style attribute of <html>.
 */
export function observeTheme(onChange: () => void): () => void {
  let pending = 0;
  const fire = (): void => {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      onChange();
    });
  };
  const observer = new MutationObserver(fire);
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return () => observer.disconnect();
}

/** The tooltip box of every chart: VS Code's hover colours and font. */
export function tooltipStyle(theme: Theme) {
  const light = theme.kind === 'light' || theme.kind === 'high-contrast-light';
  return {
    backgroundColor: light ? 'rgba(255,255,255,0.97)' : 'rgba(37,37,38,0.97)',
    titleColor: theme.foreground,
    bodyColor: theme.foreground,
    borderColor: theme.border,
    borderWidth: 1,
    titleFont: { family: theme.fontFamily, weight: 'bold' as const },
    bodyFont: { family: theme.fontFamily },
    cornerRadius: 2,
  };
}
