/** The mask heatmap of the checkpoint editor. */
export { HeatmapView, type HeatmapOptions } from './heatmapView';
