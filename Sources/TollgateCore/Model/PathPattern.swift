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

    /// Whether `path` (without the query) matches. Segments are read in place (every request is matched against the
    /// routes in turn), split at every `/` byte as an upstream server splits them (a `/` followed by a combining mark
    /// used to hide inside one `Character`, so such a path missed a paid route), and compared as strings (canonically
    /// equivalent spellings match). A segment's path parameters (`premium;v=1`) are left out of the comparison: servers
    /// that strip them serve `premium`, so the route of `premium` prices it.
    public func matches(_ path: Substring) -> Bool {
        let utf8 = path.utf8
        var index = 0
        var position = utf8.startIndex
        while position < utf8.endIndex {
            if utf8[position] == UInt8(ascii: "/") {
                position = utf8.index(after: position)
                continue
            }
            let start = position
            var parameters: String.Index?
            while position < utf8.endIndex, utf8[position] != UInt8(ascii: "/") {
                if parameters == nil, utf8[position] == UInt8(ascii: ";") { parameters = position }
                position = utf8.index(after: position)
            }
            // Nothing before the parameters (`/;x/premium`): an empty segment to servers that strip them, as `//` is.
            if parameters == start { continue }
            if index == segments.count { return matchesRest }
            if case .literal(let literal) = segments[index], literal != Substring(utf8[start..<(parameters ?? position)]) { return false }
            index += 1
        }
        // `/datasets/*` requires something below `/datasets`.
        return index == segments.count && !matchesRest
    }
}
