import Synchronization

/// Keeps one label's values bounded, so no input can grow the number of series without limit.
///
/// A closed limiter knows its values up front (resource ids and networks from the configuration) and
/// maps anything else to `other`; an open one admits the first `capacity` distinct values it sees (reason
/// codes, a fixed set in practice, but a facilitator may invent its own) and maps later newcomers to `other`.
/// A missing or empty value is `none`; values are cut to 64 characters.
final class LabelLimiter: Sendable {
    static let other = "other"
    static let none = "none"
    static let maxLength = 64

    private let seen: Mutex<Set<String>>
    private let capacity: Int
    private let closed: Bool

    /// Only `values` (and `none`, `other`).
    init(closed values: some Sequence<String>) {
        self.seen = Mutex(Set(values.map(Self.cut)))
        self.capacity = 0
        self.closed = true
    }

    /// The first `capacity` distinct values, `preset` included.
    init(capacity: Int, preset: some Sequence<String> = [String]()) {
        self.seen = Mutex(Set(preset.map(Self.cut)))
        self.capacity = capacity
        self.closed = false
    }

    func value(_ raw: String?) -> String {
        guard let raw, !raw.isEmpty else { return Self.none }
        let value = Self.cut(raw)
        return seen.withLock { seen in
            if seen.contains(value) { return value }
            guard !closed, seen.count < capacity else { return Self.other }
            seen.insert(value)
            return value
        }
    }

    private static func cut(_ value: String) -> String {
        value.count > maxLength ? String(value.prefix(maxLength)) : value
    }
}
