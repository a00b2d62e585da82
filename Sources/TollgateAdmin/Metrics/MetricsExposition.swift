import CoreMetrics
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import TollgateHTTP

/// The Prometheus side of a gateway's metrics: the registry its `GatewayMetrics` records into (through
/// `factory(recordingInto:)`) and the text `GET /metrics` on the admin listener serves. Each gateway has a
/// registry of its own; nothing here touches the global `MetricsSystem`.
public struct MetricsExposition: Sendable {
    /// The Prometheus text format's media type.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public let registry: PrometheusCollectorRegistry
    /// Whose scrape-time gauges are read before each exposition.
    public let metrics: GatewayMetrics?

    public init(registry: PrometheusCollectorRegistry, metrics: GatewayMetrics?) {
        self.registry = registry
        self.metrics = metrics
    }

    /// The swift-metrics factory that records into `registry`: swift-prometheus's `PrometheusMetricsFactory`,
    /// with the help text and buckets of the gateway's own metrics (`MetricDefinition.all`).
    public static func factory(recordingInto registry: PrometheusCollectorRegistry) -> any MetricsFactory {
        DescribedPrometheusFactory(registry: registry, definitions: MetricDefinition.all)
    }

    /// Every metric in the Prometheus text format, with the gauges read now.
    public func text() -> [UInt8] {
        metrics?.refreshGauges()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    /// The answer to `GET /metrics`.
    func response() -> Response {
        Response(status: .ok, headers: [.contentType: Self.contentType, .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: text())))
    }
}

/// `PrometheusMetricsFactory` registers every metric with an empty help text (swift-metrics has no place for one),
/// and the registry refuses two help texts for one name: the metrics described here are registered through the
/// registry's descriptors instead, with their help text and buckets; any other goes to the stock factory.
struct DescribedPrometheusFactory: MetricsFactory {
    let base: PrometheusMetricsFactory
    let definitions: [String: MetricDefinition]

    init(registry: PrometheusCollectorRegistry, definitions: [MetricDefinition]) {
        base = PrometheusMetricsFactory(registry: registry)
        self.definitions = Dictionary(definitions.map { ($0.name, $0) }) { first, _ in first }
    }

    var registry: PrometheusCollectorRegistry { base.registry }

    /// The registry's descriptor of a described metric. The whole name is the descriptor's `metricName`: with no
    /// namespace, subsystem or unit joined to it, the exposed name is the metric's label exactly.
    func descriptor(_ label: String) -> MetricNameDescriptor? {
        definitions[label].map { MetricNameDescriptor(metricName: $0.name, unitName: "", helpText: $0.help) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let descriptor = descriptor(label) else { return base.makeCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        guard let descriptor = descriptor(label) else { return base.makeFloatingPointCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let descriptor = descriptor(label) else { return base.makeMeter(label: label, dimensions: dimensions) }
        return registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    /// The gateway records no `Recorder`: every one goes to the stock factory.
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        base.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let descriptor = descriptor(label) else { return base.makeTimer(label: label, dimensions: dimensions) }
        return registry.makeDurationHistogram(descriptor: descriptor, labels: dimensions,
                                              buckets: definitions[label]?.buckets ?? base.defaultDurationHistogramBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { base.destroyFloatingPointCounter(handler) }
    func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
