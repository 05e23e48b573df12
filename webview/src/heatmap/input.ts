/**
 * Mouse, wheel and keyboard on the heatmap canvas, turned into view actions: wheel zooms around the
 * cursor, drag pans, double-click zooms in (shift: out); with the canvas focused, arrows pan
 * (shift: by half a view), + / − zoom, 0 or Home fits.
 */
import type { Point, Viewport } from './viewport';

/** What input acts on. */
export interface InputTarget {
  readonly viewport: Viewport;
  /** False while no layer is shown: input is ignored. */
  hasLayer(): boolean;
  zoomAt(factor: number, px: number, py: number): void;
  zoomAtCenter(factor: number): void;
  pan(dxWeights: number, dyWeights: number): void;
  moveTo(x0: number, y0: number): void;
  fit(): void;
  /** Shows the next (1) or previous (−1) N:M group that violates, or all-zero row. */
  findViolation(direction: 1 | -1): void;
  findDeadRow(direction: 1 | -1): void;
  showTooltip(p: Point): void;
  hideTooltip(): void;
  invalidate(): void;
}

interface Drag {
  readonly pointer: number;
  readonly x: number;
  readonly y: number;
  readonly x0: number;
  readonly y0: number;
  moved: boolean;
}

export class HeatmapInput {
  private hover: Point | null = null;
  private drag: Drag | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly target: InputTarget,
  ) {
    this.install();
  }

  /** The pointer over the canvas, unless a drag is under way. */
  get hoverPoint(): Point | null {
    return this.hover && !this.drag ? this.hover : null;
  }

  private install(): void {
    const c = this.canvas;
    const t = this.target;
    const vp = t.viewport;
    const point = (ev: MouseEvent): Point => {
      const rect = c.getBoundingClientRect();
      return { x: ev.clientX - rect.left, y: ev.clientY - rect.top };
    };
    c.addEventListener(
      'wheel',
      (ev) => {
        if (!t.hasLayer()) return;
        ev.preventDefault();
        const p = point(ev);
        const dy = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaMode === 2 ? ev.deltaY * 400 : ev.deltaY;
        t.zoomAt(Math.exp(-dy * (ev.ctrlKey ? 0.01 : 0.0025)), Math.max(vp.plotX, p.x), p.y);
        this.hover = p;
        t.showTooltip(p);
      },
      { passive: false },
    );
    c.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0 || !t.hasLayer()) return;
      c.focus();
      c.setPointerCapture(ev.pointerId);
      const p = point(ev);
      this.drag = { pointer: ev.pointerId, x: p.x, y: p.y, x0: vp.x0, y0: vp.y0, moved: false };
      t.hideTooltip();
    });
    c.addEventListener('pointermove', (ev) => {
      const p = point(ev);
      const drag = this.drag;
      if (drag && ev.pointerId === drag.pointer) {
        const dx = p.x - drag.x;
        const dy = p.y - drag.y;
        if (!drag.moved && Math.hypot(dx, dy) < 3) return;
        drag.moved = true;
        c.classList.add('dragging');
        t.moveTo(drag.x0 - dx / vp.sx, drag.y0 - dy / vp.sy);
        return;
      }
      this.hover = p;
      t.showTooltip(p);
      t.invalidate();
    });
    const endDrag = (ev: PointerEvent): void => {
      if (!this.drag || ev.pointerId !== this.drag.pointer) return;
      this.drag = null;
      c.classList.remove('dragging');
      if (c.hasPointerCapture(ev.pointerId)) c.releasePointerCapture(ev.pointerId);
    };
    c.addEventListener('pointerup', endDrag);
    c.addEventListener('pointercancel', endDrag);
    c.addEventListener('pointerleave', () => {
      if (this.drag) return;
      this.hover = null;
      t.hideTooltip();
      t.invalidate();
    });
    c.addEventListener('dblclick', (ev) => {
      const p = point(ev);
      t.zoomAt(ev.shiftKey ? 0.5 : 2, Math.max(vp.plotX, p.x), p.y);
    });
    c.addEventListener('keydown', (ev) => {
      if (!t.hasLayer()) return;
      const viewCols = vp.spanX;
      const viewRows = vp.spanY;
      const stepX = ev.shiftKey ? viewCols / 2 : Math.max(1, viewCols / 10);
      const stepY = ev.shiftKey ? viewRows / 2 : Math.max(1, viewRows / 10);
      switch (ev.key) {
        case 'ArrowLeft':
          t.pan(-stepX, 0);
          break;
        case 'ArrowRight':
          t.pan(stepX, 0);
          break;
        case 'ArrowUp':
          t.pan(0, -stepY);
          break;
        case 'ArrowDown':
          t.pan(0, stepY);
          break;
        case '+':
        case '=':
          t.zoomAtCenter(1.5);
          break;
        case '-':
        case '_':
          t.zoomAtCenter(1 / 1.5);
          break;
        case '0':
        case 'Home':
          t.fit();
          break;
        case 'n':
        case 'N':
          t.findViolation(ev.shiftKey ? -1 : 1);
          break;
        case 'd':
        case 'D':
          t.findDeadRow(ev.shiftKey ? -1 : 1);
          break;
        default:
          return;
      }
      ev.preventDefault();
      t.hideTooltip();
    });
  }
}
