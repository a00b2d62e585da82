import Prometheus
import Synchronization

/// The registry's series by name and label values, looked up once: recording an event is then one lock,
/// a dictionary lookup and an atomic add, with no allocation beyond the caller's label array.
final class MetricSeries: Sendable {
    let registry: PrometheusCollectorRegistry
    private let counters = Mutex<[Key: Counter]>([:])
    private let histograms = Mutex<[Key: DurationHistogram]>([:])

    /// One series: the metric's name and its labels. It holds the caller's strings and label array
    /// (retained, not copied), so building one to look a series up allocates nothing. The loops index the
    /// array: iterating its tuples (`for (name, value) in labels`) allocates in debug builds.
    private struct Key: Hashable {
        let name: String
        let labels: [(String, String)]

        static func == (lhs: Self, rhs: Self) -> Bool {
            guard lhs.name == rhs.name, lhs.labels.count == rhs.labels.count else { return false }
            for index in lhs.labels.indices {
                guard lhs.labels[index].0 == rhs.labels[index].0, lhs.labels[index].1 == rhs.labels[index].1 else { return false }
            }
            return true
        }

        /// The label names are fixed for one metric: the values tell its series apart.
        func hash(into hasher: inout Hasher) {
            hasher.combine(name)
            for index in labels.indices { hasher.combine(labels[index].1) }
        }
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The counter of `metric` with `labels` (always in the same order for one metric).
    func counter(_ metric: MetricDefinition, _ labels: [(String, String)]) -> Counter {
        let key = Key(name: metric.name, labels: labels)
        if let known = counters.withLock({ $0[key] }) { return known }
        // First use: the registry returns its series if another thread registered it meanwhile.
        let counter = registry.makeCounter(descriptor: metric.descriptor, labels: labels)
        counters.withLock { $0[key] = counter }
        return counter
    }

    func increment(_ metric: MetricDefinition, _ labels: [(String, String)], by amount: Int64 = 1) {
        counter(metric, labels).increment(by: amount)
    }

    /// The duration histogram of `metric` with `labels`; `buckets` are those of its first registration.
    func histogram(_ metric: MetricDefinition, _ labels: [(String, String)], buckets: [Duration]) -> DurationHistogram {
        let key = Key(name: metric.name, labels: labels)
        if let known = histograms.withLock({ $0[key] }) { return known }
        let histogram = registry.makeDurationHistogram(descriptor: metric.descriptor, labels: labels, buckets: buckets)
        histograms.withLock { $0[key] = histogram }
        return histogram
    }
}
