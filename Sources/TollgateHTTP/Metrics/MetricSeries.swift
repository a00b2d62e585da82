import Prometheus
import Synchronization

/// The registry's counters by name and label values, looked up once: recording an event is then a
/// dictionary lookup and an atomic add.
final class MetricSeries: Sendable {
    let registry: PrometheusCollectorRegistry
    private let counters = Mutex<[String: Counter]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The counter of `metric` with `labels` (always in the same order for one metric).
    func counter(_ metric: MetricDefinition, _ labels: [(String, String)]) -> Counter {
        var key = metric.name
        for (_, value) in labels {
            key.append("\u{1F}")
            key.append(value)
        }
        if let known = counters.withLock({ $0[key] }) { return known }
        let counter = registry.makeCounter(name: metric.name, labels: labels, help: metric.help)
        counters.withLock { $0[key] = counter }
        return counter
    }

    func increment(_ metric: MetricDefinition, _ labels: [(String, String)], by amount: Int64 = 1) {
        counter(metric, labels).increment(by: amount)
    }
}
