// Line charts as PNG without a browser: a Vega-Lite spec is compiled to Vega, rendered headless to
// SVG (renderer 'none' + toSVG), and rasterised by resvg with the DejaVu font loaded explicitly, so a
// fresh machine with no fontconfig setup still draws every label.
import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  points: Point[];
  /** Unsmoothed values drawn faintly behind `points` in the same colour, with no legend entry. */
  raw?: Point[];
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  xTitle: string;
  yTitle: string;
  series: Series[];
  /** Horizontal dashed lines across the x range (e.g. the teacher's perplexity), named in the legend. */
  referenceLines?: { name: string; y: number }[];
  logY?: boolean;
  /** Start a linear y axis at 0 (e.g. learning rates, which schedules take to 0). */
  yZero?: boolean;
  /** d3-format string for y tick labels (e.g. '.1e' for learning rates). */
  yFormat?: string;
}

export const CHART_WIDTH = 900;
const CHART_HEIGHT = 440;
const FONT_FAMILY = 'DejaVu Sans';
const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => `${FONT_DIR}/${f}`);
// Colour-blind-safe palette (Okabe–Ito); reference lines reuse it after the measured series.
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

interface Row {
  x: number;
  y: number;
  series: string;
}

const LEGEND_FONT_SIZE = 12;
const LEGEND_COLUMN_PADDING = 24;
const LEGEND_SYMBOL = 40; // symbol plus its gap to the label, in pixels

/**
 * As many legend entries per row as fit the chart's width. Without a canvas vega estimates text
 * width (0.8 × font size per character) and lets a long horizontal legend run off the picture;
 * this uses the same estimate, so what vega lays out is what fits.
 */
function legendColumns(names: string[]): number {
  const widths = names.map((n) => LEGEND_SYMBOL + 0.8 * LEGEND_FONT_SIZE * n.length + LEGEND_COLUMN_PADDING);
  const available = CHART_WIDTH - 40;
  const widest = [...widths].sort((a, b) => b - a);
  let columns = 1;
  while (columns < names.length && widest.slice(0, columns + 1).reduce((a, b) => a + b, 0) <= available) columns++;
  return columns;
}

// vega-lite exports only the top-level spec type; the unit-layer and encoding types are derived from it.
type UnitLayer = Extract<Extract<TopLevelSpec, { layer: unknown }>['layer'][number], { mark: unknown }>;
type Encoding = NonNullable<UnitLayer['encoding']>;

const usable = (p: Point, logY: boolean) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logY || p.y > 0);

/** The Vega-Lite spec: measured series solid, reference lines dashed, one merged legend. */
export function lineChartVegaLite(spec: LineChartSpec): TopLevelSpec {
  const logY = spec.logY ?? false;
  const measured: Row[] = spec.series.flatMap((s) => s.points.filter((p) => usable(p, logY)).map((p) => ({ ...p, series: s.name })));
  const raw: Row[] = spec.series.flatMap((s) => (s.raw ?? []).filter((p) => usable(p, logY)).map((p) => ({ ...p, series: s.name })));
  const xs = [...measured, ...raw].map((r) => r.x);
  const [xMin, xMax] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const references = (spec.referenceLines ?? []).filter((r) => usable({ x: 0, y: r.y }, logY));
  // A reference line is a two-point series spanning the x range, so it shares the legend with the rest.
  const referenceRows: Row[] = references.flatMap((r) => [
    { x: xMin, y: r.y, series: r.name },
    { x: xMax, y: r.y, series: r.name },
  ]);
  const names = [...spec.series.map((s) => s.name), ...references.map((r) => r.name)];
  const dashes = [...spec.series.map(() => [1, 0]), ...references.map(() => [7, 5])];
  const legend = names.length > 1 ? { title: null, columns: legendColumns(names) } : null;
  const encoding: Encoding = {
    x: {
      field: 'x',
      type: 'quantitative',
      title: spec.xTitle,
      scale: { domain: [xMin, xMax], nice: false },
      // Steps are whole numbers: no '2.5' ticks on a short run.
      axis: xs.every(Number.isInteger) ? { format: 'd', tickMinStep: 1 } : {},
    },
    y: {
      field: 'y',
      type: 'quantitative',
      title: spec.yTitle,
      scale: logY ? { type: 'log' } : { zero: spec.yZero ?? false },
      // A plain '0' rather than e.g. '0e+0' where a format is given for small numbers.
      axis: spec.yFormat ? { labelExpr: `datum.value === 0 ? '0' : format(datum.value, '${spec.yFormat}')` } : {},
    },
    color: { field: 'series', type: 'nominal', scale: { domain: names, range: PALETTE }, legend },
    strokeDash: { field: 'series', type: 'nominal', scale: { domain: names, range: dashes }, legend },
  };
  const layers: UnitLayer[] = [
    { data: { values: [...measured, ...referenceRows] }, mark: { type: 'line', strokeWidth: 2.2, clip: true }, encoding },
  ];
  if (raw.length) layers.unshift({ data: { values: raw }, mark: { type: 'line', strokeWidth: 1, opacity: 0.3, clip: true }, encoding });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    // 'fit' makes the whole picture, legend and axis labels included, exactly CHART_WIDTH wide.
    autosize: { type: 'fit', contains: 'padding' },
    padding: 16,
    background: 'white',
    title: { text: spec.title, ...(spec.subtitle ? { subtitle: spec.subtitle } : {}), anchor: 'start', offset: 12 },
    config: {
      font: FONT_FAMILY,
      title: { fontSize: 18, subtitleFontSize: 12, subtitleColor: '#555' },
      axis: { titleFontSize: 13, labelFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6' },
      // Above the plot, outside it, so the legend never hides a curve.
      legend: { orient: 'top', direction: 'horizontal', labelFontSize: LEGEND_FONT_SIZE, labelLimit: 0, symbolStrokeWidth: 2.5, symbolSize: 400, symbolType: 'stroke', symbolOpacity: 1, columnPadding: LEGEND_COLUMN_PADDING, gridAlign: 'none' },
      view: { stroke: '#bbb' },
    },
    layer: layers,
  };
}

// Vega-Lite's compile-time notes (merged legends, dropped scale options) are not the user's business.
const quietLogger = vega.logger(vega.None);

/** The chart as an SVG document (useful for tests: series names appear as legend text). */
export async function lineChartSvg(spec: LineChartSpec): Promise<string> {
  const vegaSpec = compile(lineChartVegaLite(spec), { logger: quietLogger }).spec;
  const view = new vega.View(vega.parse(vegaSpec), { renderer: 'none', logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string): Buffer {
  const fontFiles = FONT_FILES.filter((f) => existsSync(f));
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'width', value: CHART_WIDTH },
    // System fonts only as a fallback: the explicit DejaVu files make output identical across machines.
    font: { fontFiles, loadSystemFonts: true, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}

export async function lineChartPng(spec: LineChartSpec): Promise<Buffer> {
  return svgToPng(await lineChartSvg(spec));
}
