import Synchronization

/// The proofs this process is working on, from their reservation to their answer. A claim in the store
/// that is not here was left by a process that stopped (a crash): its retry may take it over, and its
/// settlement may be resolved. A claim that is here belongs to a live request: a retry waits (503).
public final class PaymentsInFlight: Sendable {
    private let keys = Mutex<Set<ProofKey>>([])

    public init() {}

    /// Marks `key` as in flight; false when it already was.
    @discardableResult
    public func begin(_ key: ProofKey) -> Bool { keys.withLock { $0.insert(key).inserted } }

    public func end(_ key: ProofKey) { _ = keys.withLock { $0.remove(key) } }

    public func contains(_ key: ProofKey) -> Bool { keys.withLock { $0.contains(key) } }

    /// Every proof in flight now.
    public var all: [ProofKey] { keys.withLock { Array($0) } }
}

/// The attempt a settlement was last recorded with (written inside the rail's `before` callback).
final class RecordedAttempt: Sendable {
    private let attempt = Mutex<(SettlementAttempt?, writing: Duration)>((nil, .zero))
    var value: SettlementAttempt? { attempt.withLock { $0.0 } }
    /// How long writing the intents took, in all.
    var writing: Duration { attempt.withLock { $0.writing } }
    func set(_ value: SettlementAttempt, writing: Duration) { attempt.withLock { $0 = (value, $0.writing + writing) } }
}
