import Synchronization

/// Keeps one label's values bounded, so no input can grow the number of series without limit.
///
/// A closed limiter knows its values up front (resource ids and networks from the configuration) and
/// maps anything else to `other`; an open one admits the first `capacity` distinct values it sees (reason
/// codes, a fixed set in practice, but a facilitator may invent its own) and maps later newcomers to `other`.
/// A missing or empty value is `none`; values are cut to 64 characters.
///
/// The values known up front (a closed limiter's, an open one's preset) never change, so they are read
/// without a lock; only an open limiter's later values take its lock. Nothing is allocated unless a value
/// has to be cut.
final class LabelLimiter: Sendable {
    static let other = "other"
    static let none = "none"
    static let maxLength = 64

    /// The closed values, or the open preset.
    private let known: Set<String>
    /// The values an open limiter admitted after its preset.
    private let admitted = Mutex<Set<String>>([])
    /// How many values beyond the preset an open limiter admits.
    private let room: Int
    private let closed: Bool

    /// Only `values` (and `none`, `other`).
    init(closed values: some Sequence<String>) {
        self.known = Set(values.map(Self.cut))
        self.room = 0
        self.closed = true
    }

    /// The first `capacity` distinct values, `preset` included.
    init(capacity: Int, preset: some Sequence<String> = [String]()) {
        self.known = Set(preset.map(Self.cut))
        self.room = max(0, capacity - known.count)
        self.closed = false
    }

    func value(_ raw: String?) -> String {
        guard let raw, !raw.isEmpty else { return Self.none }
        let value = Self.cut(raw)
        if known.contains(value) { return value }
        if closed { return Self.other }
        return admitted.withLock { admitted in
            if admitted.contains(value) { return value }
            guard admitted.count < room else { return Self.other }
            admitted.insert(value)
            return value
        }
    }

    private static func cut(_ value: String) -> String {
        // No more UTF-8 bytes than the limit means no more characters: skip counting them.
        guard value.utf8.count > maxLength, value.count > maxLength else { return value }
        return String(value.prefix(maxLength))
    }
}
