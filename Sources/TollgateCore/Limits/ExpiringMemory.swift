import Synchronization

/// A bounded memory of keys that expire: at most `capacity` entries (the oldest go first), each forgotten
/// `ttlSeconds` after it was last remembered. Memory stays flat whatever a flood of distinct keys does.
public final class ExpiringMemory<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var entries: [Key: (value: Value, expires: Double)] = [:]
        /// Keys in the order they were first remembered; a ring once `capacity` is reached.
        var order: [Key] = []
        var head = 0
    }

    public let capacity: Int
    public let ttlSeconds: Double
    private let state = Mutex(State())

    public init(capacity: Int, ttlSeconds: Double) {
        self.capacity = max(1, capacity)
        self.ttlSeconds = ttlSeconds
    }

    /// What was remembered under `key`, unless it expired.
    public func value(for key: Key, now: Double) -> Value? {
        state.withLock { state in
            guard let entry = state.entries[key], entry.expires > now else { return nil }
            return entry.value
        }
    }

    public func remember(_ key: Key, _ value: Value, now: Double) {
        state.withLock { state in
            if state.entries[key] == nil {
                if state.order.count < capacity {
                    state.order.append(key)
                } else {
                    state.entries[state.order[state.head]] = nil
                    state.order[state.head] = key
                    state.head = (state.head + 1) % capacity
                }
            }
            state.entries[key] = (value, now + ttlSeconds)
        }
    }

    public var count: Int { state.withLock { $0.entries.count } }
}
