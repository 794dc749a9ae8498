// Time-series charts of the monitoring page (uPlot, in this lazily loaded chunk only): per
// environment, requests per minute, p95 latency and error rate, with release markers drawn
// as vertical lines. Each chart has a text summary for screen readers.
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Analytics } from './common';

type Series = Analytics['series'][number];
type Marker = Analytics['markers'][number];
const NO_MARKERS: Marker[] = [];

const MARKER_COLORS: Record<Marker['kind'], string> = {
  promotion: '#2552c9',
  rollback: '#b42318',
  commit: '#5b6472',
  override: '#8a5a00',
};

interface Metric {
  id: 'requests' | 'p95' | 'errors';
  label: string;
  value: (p: Series['points'][number]) => number | null;
  format: (v: number) => string;
}

const METRICS: Metric[] = [
  { id: 'requests', label: 'Requests per minute', value: (p) => p.requestsPerMinute, format: (v) => v.toFixed(v < 10 ? 1 : 0) },
  { id: 'p95', label: 'p95 latency (ms)', value: (p) => p.p95Ms, format: (v) => `${v.toFixed(v < 10 ? 1 : 0)} ms` },
  { id: 'errors', label: 'Error rate (%)', value: (p) => (p.requests > 0 ? p.errorRate * 100 : null), format: (v) => `${v.toFixed(1)} %` },
];

/** Vertical lines at each marker, coloured by kind, labelled with the release number. */
function markerPlugin(markers: Marker[]): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          for (const marker of markers) {
            const x = u.valToPos(Date.parse(marker.at) / 1000, 'x', true);
            if (x < bbox.left || x > bbox.left + bbox.width) continue;
            ctx.strokeStyle = MARKER_COLORS[marker.kind];
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.setLineDash(marker.kind === 'rollback' ? [6, 4] : []);
            ctx.beginPath();
            ctx.moveTo(x, bbox.top);
            ctx.lineTo(x, bbox.top + bbox.height);
            ctx.stroke();
            if (marker.release !== null) {
              ctx.fillStyle = MARKER_COLORS[marker.kind];
              ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
              ctx.fillText(`#${marker.release}`, x + 3 * devicePixelRatio, bbox.top + 12 * devicePixelRatio);
            }
          }
          ctx.restore();
        },
      ],
    },
  };
}

function Chart({ series, metric, markers, color, from, to }: { series: Series; metric: Metric; markers: Marker[]; color: string; from: number; to: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const xs = series.points.map((p) => Date.parse(p.at) / 1000);
    const ys = series.points.map((p) => metric.value(p));
    const plot = new uPlot(
      {
        width: Math.max(200, element.clientWidth),
        height: 150,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true, range: () => [from, to] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
        axes: [
          { stroke: '#5b6472', grid: { stroke: '#eceef2' }, ticks: { stroke: '#d9dde3' } },
          { stroke: '#5b6472', grid: { stroke: '#eceef2' }, ticks: { stroke: '#d9dde3' }, size: 56, values: (_u, values) => values.map((v) => metric.format(v)) },
        ],
        series: [{}, { label: metric.label, stroke: color, width: 2, fill: `${color}22`, spanGaps: false, points: { show: series.points.length < 40 } }],
        plugins: [markerPlugin(markers)],
      },
      [xs, ys],
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth), height: 150 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [series, metric, markers, color, from, to]);

  const values = series.points.map((p) => metric.value(p)).filter((v): v is number => v !== null);
  const last = values.length > 0 ? values[values.length - 1]! : null;
  const peak = values.length > 0 ? Math.max(...values) : null;
  const summary = last === null ? `${metric.label}: no traffic in this range` : `${metric.label}: latest ${metric.format(last)}, peak ${metric.format(peak!)}`;
  return (
    <figure className="ops-chart">
      <figcaption>{metric.label}</figcaption>
      <div ref={box} className="ops-chart-canvas" role="img" aria-label={summary} data-testid={`chart-${series.environment}-${metric.id}`} />
    </figure>
  );
}

export default function EnvironmentCharts({ analytics, colors, names }: { analytics: Analytics; colors: Record<string, string>; names: Record<string, string> }) {
  const from = Date.parse(analytics.from) / 1000;
  const to = Date.parse(analytics.to) / 1000;
  const markersOf = useMemo(() => {
    const by = new Map<string, Marker[]>();
    for (const m of analytics.markers) by.set(m.environment, [...(by.get(m.environment) ?? []), m]);
    return by;
  }, [analytics.markers]);
  return (
    <div className="ops-charts">
      {analytics.series.map((series) => {
        const markers = markersOf.get(series.environment) ?? NO_MARKERS;
        return (
          <section key={series.environment} className="ops-chart-env" aria-label={`Charts of ${names[series.environment] ?? series.environment}`}>
            <h3>
              <span className="env-dot" style={{ backgroundColor: colors[series.environment] ?? '#6b7280' }} aria-hidden="true" /> {names[series.environment] ?? series.environment}
            </h3>
            <div className="ops-chart-row">
              {METRICS.map((metric) => (
                <Chart key={metric.id} series={series} metric={metric} markers={markers} color={colors[series.environment] ?? '#2552c9'} from={from} to={to} />
              ))}
            </div>
            {markers.length > 0 ? (
              <ul className="ops-markers" aria-label="Markers">
                {markers.map((m, i) => (
                  <li key={i}>
                    <span className={`ops-marker-swatch ops-marker-${m.kind}`} aria-hidden="true" />
                    {m.kind}
                    {m.release !== null ? ` #${m.release}` : ''} at <time dateTime={m.at}>{new Date(m.at).toLocaleTimeString()}</time>
                  </li>
                ))}
              </ul>
            ) : (
              <p className="muted ops-markers">No releases, rollbacks or overrides in this range.</p>
            )}
          </section>
        );
      })}
    </div>
  );
}
