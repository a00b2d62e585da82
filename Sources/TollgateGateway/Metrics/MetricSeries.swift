import CoreMetrics
import Synchronization

/// The series of one metrics factory by name and label values, made once through swift-metrics: recording an
/// event is then one lock, a dictionary lookup and the backend's own update, with no allocation beyond the
/// caller's label array. The factory is passed in (never the global `MetricsSystem`), so each gateway can
/// record into its own backend.
final class MetricSeries: Sendable {
    let factory: any MetricsFactory
    private let counters = Mutex<[Key: Counter]>([:])
    private let amounts = Mutex<[Key: FloatingPointCounter]>([:])
    private let timers = Mutex<[Key: CoreMetrics.Timer]>([:])
    private let meters = Mutex<[Key: Meter]>([:])

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

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// The series of `metric` with `labels` (always in the same order for one metric) in `cache`, made by
    /// `make` on first use. The backend returns its own series if another thread made it meanwhile.
    private func series<Metric: Sendable>(_ cache: borrowing Mutex<[Key: Metric]>, _ metric: MetricDefinition, _ labels: [(String, String)],
                                _ make: (String, [(String, String)]) -> Metric) -> Metric {
        let key = Key(name: metric.name, labels: labels)
        if let known = cache.withLock({ $0[key] }) { return known }
        let made = make(metric.name, labels)
        cache.withLock { $0[key] = made }
        return made
    }

    /// The counter of `metric` with `labels`.
    func counter(_ metric: MetricDefinition, _ labels: [(String, String)]) -> Counter {
        series(counters, metric, labels) { Counter(label: $0, dimensions: $1, factory: factory) }
    }

    func increment(_ metric: MetricDefinition, _ labels: [(String, String)], by amount: Int64 = 1) {
        counter(metric, labels).increment(by: amount)
    }

    /// The counter of an amount (whole tokens) of `metric` with `labels`.
    func amount(_ metric: MetricDefinition, _ labels: [(String, String)]) -> FloatingPointCounter {
        series(amounts, metric, labels) { FloatingPointCounter(label: $0, dimensions: $1, factory: factory) }
    }

    /// The timer of `metric` with `labels`; a backend that keeps histograms takes its buckets from `metric.buckets`.
    func timer(_ metric: MetricDefinition, _ labels: [(String, String)]) -> CoreMetrics.Timer {
        series(timers, metric, labels) { CoreMetrics.Timer(label: $0, dimensions: $1, factory: factory) }
    }

    /// The gauge of `metric` with `labels`, set to a value read now.
    func meter(_ metric: MetricDefinition, _ labels: [(String, String)] = []) -> Meter {
        series(meters, metric, labels) { Meter(label: $0, dimensions: $1, factory: factory) }
    }
}
