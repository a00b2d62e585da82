/// A route's path pattern: literal segments, `*` for exactly one segment, and a trailing `*`
/// for "this prefix and anything below it" (`/datasets/*` matches `/datasets/prices` and `/datasets/a/b`).
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        /// The segment's text with its percent escapes decoded (a pattern may be written `/café` or `/caf%C3%A9`).
        case literal(String)
        case any
    }

    public let description: String
    let segments: [Segment]
    let matchesRest: Bool

    /// Returns nil unless the pattern starts with `/`.
    public init?(_ pattern: String) {
        guard pattern.hasPrefix("/") else { return nil }
        var parts = pattern.split(separator: "/", omittingEmptySubsequences: true).map { part in
            part == "*" ? Segment.any : .literal(PathPattern.decoded(part.utf8) ?? String(part))
        }
        matchesRest = parts.last == .any && pattern.hasSuffix("/*")
        if matchesRest { parts.removeLast() }
        segments = parts
        description = pattern
    }

    /// Whether the pattern's literal text could compare differently when letter case is ignored: it has a letter
    /// that is not ASCII lowercase.
    var hasCasedLiterals: Bool {
        segments.contains { segment in
            guard case .literal(let text) = segment else { return false }
            return text.utf8.contains { $0 >= 0x80 || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
        }
    }

    /// Whether `path` (without the query) matches. Segments are read in place (every request is matched against the
    /// routes in turn), split at every `/` byte as an upstream server splits them (a `/` followed by a combining mark
    /// used to hide inside one `Character`, so such a path missed a paid route), percent-decoded as the upstream decodes
    /// them (the normalised path keeps a non-ASCII letter escaped), and compared as strings (canonically equivalent
    /// spellings match). A segment's path parameters (`premium;v=1`) are left out of the comparison: servers that strip
    /// them serve `premium`, so the route of `premium` prices it. `ignoringCase`: literal segments match whatever the
    /// letter case (`PathCase.insensitive`).
    public func matches(_ path: Substring, ignoringCase: Bool = false) -> Bool {
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
            var escaped = false
            while position < utf8.endIndex, utf8[position] != UInt8(ascii: "/") {
                if parameters == nil {
                    if utf8[position] == UInt8(ascii: ";") { parameters = position }
                    if utf8[position] == UInt8(ascii: "%") { escaped = true }
                }
                position = utf8.index(after: position)
            }
            // Nothing before the parameters (`/;x/premium`): an empty segment to servers that strip them, as `//` is.
            if parameters == start { continue }
            if index == segments.count { return matchesRest }
            if case .literal(let literal) = segments[index] {
                let bytes = utf8[start..<(parameters ?? position)]
                let text = escaped ? PathPattern.decoded(bytes).map { Substring($0) } ?? Substring(bytes) : Substring(bytes)
                if ignoringCase ? !PathCase.equalIgnoringCase(literal, text) : literal != text { return false }
            }
            index += 1
        }
        // `/datasets/*` requires something below `/datasets`.
        return index == segments.count && !matchesRest
    }

    /// The text of a segment with its percent escapes decoded; nil when an escape is malformed or the result is not
    /// UTF-8 (the segment is then compared as written).
    static func decoded(_ bytes: some Collection<UInt8>) -> String? {
        guard bytes.contains(UInt8(ascii: "%")) else { return String(decoding: bytes, as: UTF8.self) }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                output.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(HexString.nibble), let low = iterator.next().flatMap(HexString.nibble) else { return nil }
            output.append(high << 4 | low)
        }
        return String(validating: output, as: UTF8.self)
    }
}
