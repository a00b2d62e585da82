/// When to stop asking a facilitator: after `failureThreshold` consecutive failures (a call slower than
/// `slowCallMillis` counts as one), or at once when it cannot be reached at all. Once open it stays out
/// of rotation for `openSeconds`; then the health check's `/supported` call is the half-open probe that
/// closes it again.
public struct CircuitBreaker: Sendable, Hashable {
    public struct Settings: Sendable, Hashable {
        public var failureThreshold: Int
        public var slowCallMillis: Int64
        public var openSeconds: Double

        public init(failureThreshold: Int = 3, slowCallMillis: Int64 = 5000, openSeconds: Double = 5) {
            self.failureThreshold = max(1, failureThreshold)
            self.slowCallMillis = slowCallMillis
            self.openSeconds = openSeconds
        }
    }

    public let settings: Settings
    public private(set) var consecutiveFailures = 0
    /// When it opened (seconds), nil while closed.
    public private(set) var openedAt: Double?

    public init(settings: Settings = Settings()) { self.settings = settings }

    public var isOpen: Bool { openedAt != nil }

    /// Records one call. Returns true when this call opened the breaker.
    public mutating func record(failed: Bool, unreachable: Bool, latencyMillis: Int64, now: Double) -> Bool {
        let failure = failed || latencyMillis > settings.slowCallMillis
        guard failure else {
            consecutiveFailures = 0
            return false
        }
        consecutiveFailures += 1
        guard openedAt == nil, unreachable || consecutiveFailures >= settings.failureThreshold else { return false }
        openedAt = now
        return true
    }

    /// Whether the half-open probe may run.
    public func mayProbe(now: Double) -> Bool {
        openedAt.map { now - $0 >= settings.openSeconds } ?? true
    }

    public mutating func close() {
        openedAt = nil
        consecutiveFailures = 0
    }
}
