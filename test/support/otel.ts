import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, context, ROOT_CONTEXT } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, onTestFinished } from 'vitest';

/**
 * Context that follows `await`, as the Node SDK's AsyncLocalStorageContextManager
 * (@opentelemetry/context-async-hooks) keeps it: the same few lines over AsyncLocalStorage.
 */
class AsyncLocalStorageContextManager implements ContextManager {
  #storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const manager = this;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, () => target.apply(this, args));
    } as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#storage.disable();
    this.#storage = new AsyncLocalStorage<Context>();
    return this;
  }
}

/** Registers the async context manager for the tests of this file, as the Node SDK does at start. */
export function useAsyncContext(): void {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager());
  });
  afterAll(() => {
    context.disable();
  });
}

/**
 * The real SDK, exporting to memory: a tracer provider whose finished spans are kept, and a meter
 * provider read on demand (a periodic reader flushed by hand; cumulative unless told). Shut down with
 * the test.
 */
export function otelSdk(temporality = AggregationTemporality.CUMULATIVE) {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const metricExporter = new InMemoryMetricExporter(temporality);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  onTestFinished(async () => {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  return {
    tracerProvider,
    meterProvider,
    /** The spans that ended so far, in the order they ended. */
    spans: (): ReadableSpan[] => spanExporter.getFinishedSpans(),
    /** Collects every metric now. */
    async metrics(): Promise<Metrics> {
      metricExporter.reset();
      await reader.forceFlush();
      return new Metrics(
        metricExporter.getMetrics().flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics)),
      );
    },
  };
}

/** What one collection holds, read by metric name and attributes. */
export class Metrics {
  constructor(readonly all: MetricData[]) {}

  metric(name: string): MetricData | undefined {
    return this.all.find((metric) => metric.descriptor.name === name);
  }

  /** The points of a metric whose attributes include `attributes`. */
  points(name: string, attributes: Record<string, unknown> = {}) {
    const metric = this.metric(name);
    const points = (metric?.dataPoints ?? []) as Array<{ attributes: Record<string, unknown>; value: unknown }>;
    return points.filter((point) =>
      Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
    );
  }

  /** A counter's, up-down counter's or gauge's value summed over the matching points (0 when none). */
  value(name: string, attributes: Record<string, unknown> = {}): number {
    return this.points(name, attributes).reduce((sum, point) => sum + (point.value as number), 0);
  }

  /** A histogram's count and sum over the matching points. */
  histogram(name: string, attributes: Record<string, unknown> = {}): { count: number; sum: number; min: number } {
    const metric = this.metric(name);
    if (metric && metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${name} is not a histogram`);
    let count = 0;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    for (const point of this.points(name, attributes)) {
      const value = point.value as { count: number; sum: number; min?: number };
      count += value.count;
      sum += value.sum;
      min = Math.min(min, value.min ?? Number.POSITIVE_INFINITY);
    }
    return { count, sum, min };
  }
}
