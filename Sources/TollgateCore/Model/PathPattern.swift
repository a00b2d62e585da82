/// A route's path pattern: literal segments, `*` for exactly one segment, and a trailing `*`
/// for "this prefix and anything below it" (`/datasets/*` matches `/datasets/prices` and `/datasets/a/b`).
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case literal(Substring)
        case any
    }

    public let description: String
    let segments: [Segment]
    let matchesRest: Bool

    /// Returns nil unless the pattern starts with `/`.
    public init?(_ pattern: String) {
        guard pattern.hasPrefix("/") else { return nil }
        var parts = pattern.split(separator: "/", omittingEmptySubsequences: true).map { $0 == "*" ? Segment.any : .literal($0) }
        matchesRest = parts.last == .any && pattern.hasSuffix("/*")
        if matchesRest { parts.removeLast() }
        segments = parts
        description = pattern
    }

    /// Whether `path` (without the query) matches.
    public func matches(_ path: Substring) -> Bool {
        var index = 0
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if index == segments.count { return matchesRest }
            switch segments[index] {
            case .any: break
            case .literal(let literal): if literal != part { return false }
            }
            index += 1
        }
        // `/datasets/*` requires something below `/datasets`.
        return index == segments.count && !matchesRest
    }
}
