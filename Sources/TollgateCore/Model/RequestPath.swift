/// The one spelling of a request path that routes are matched on and the upstream receives.
///
/// Percent-encoded unreserved characters are decoded and the remaining escapes uppercased (RFC 3986
/// §6.2.2), so `/%72eports/x` is `/reports/x` everywhere. Spellings that servers resolve differently are
/// refused rather than guessed at: dot segments (encoded or not, and with path parameters: `..;x`, which
/// Tomcat and Spring read as `..`), encoded `/` and `\`, a raw `\`, a fragment (`#`: no request target has one, and
/// servers that drop it serve another path than the one matched), NUL and other control characters, escapes that are
/// not valid UTF-8 (overlong forms included), malformed escapes, double encodings (`%25` followed by two hex
/// digits), which a second decoder would turn into any of these, and more than 30 combining marks in a row.
public enum RequestPath {
    /// Why a path was refused (answered 400 `unsafe_path`).
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public let detail: String
        public var description: String { detail }
    }

    /// The normalised path, or why it cannot be served. `path` is the path of a request target (no query).
    public static func normalize(_ path: some StringProtocol) -> Result<String, Refusal> {
        if let plain = plain(path) { return .success(plain) }
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/") else { return .failure(Refusal(detail: "the path does not start with /")) }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        // Every escape decoded to bytes, to check the whole path is UTF-8 once decoded.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var segmentStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "%"):
                guard index + 2 < bytes.count,
                      let high = HexString.nibble(bytes[index + 1]), let low = HexString.nibble(bytes[index + 2])
                else { return .failure(Refusal(detail: "the path has a malformed percent escape")) }
                let value = high << 4 | low
                switch value {
                case UInt8(ascii: "/"), UInt8(ascii: "\\"):
                    return .failure(Refusal(detail: "the path has an encoded separator"))
                case 0x00..<0x20, 0x7F:
                    return .failure(Refusal(detail: "the path has an encoded control character"))
                case UInt8(ascii: "%"):
                    output += [UInt8(ascii: "%"), UInt8(ascii: "2"), UInt8(ascii: "5")]
                default:
                    if isUnreserved(value) {
                        output.append(value)
                    } else {
                        output += [UInt8(ascii: "%"), upperHex(value >> 4), upperHex(value & 0x0F)]
                    }
                }
                decoded.append(value)
                index += 3
            case UInt8(ascii: "/"):
                if let refusal = dotSegment(output[segmentStart...]) { return .failure(refusal) }
                output.append(byte)
                decoded.append(byte)
                segmentStart = output.count
                index += 1
            case UInt8(ascii: "\\"):
                return .failure(Refusal(detail: "the path has a backslash"))
            case UInt8(ascii: "#"):
                return .failure(Refusal(detail: "the request target has a fragment"))
            case 0x00..<0x20, 0x7F:
                return .failure(Refusal(detail: "the path has a control character"))
            default:
                output.append(byte)
                decoded.append(byte)
                index += 1
            }
        }
        if let refusal = dotSegment(output[segmentStart...]) { return .failure(refusal) }
        // `%25` then two hex digits in the result (`%252f`, or `%25%32%66` once its unreserved escapes are
        // decoded): a second decoder would see an escape the first did not.
        for at in output.indices where output[at] == UInt8(ascii: "%") && at + 4 < output.count
            && output[at + 1] == UInt8(ascii: "2") && output[at + 2] == UInt8(ascii: "5")
            && HexString.nibble(output[at + 3]) != nil && HexString.nibble(output[at + 4]) != nil {
            return .failure(Refusal(detail: "the path is percent-encoded twice"))
        }
        guard let text = String(validating: decoded, as: UTF8.self) else {
            return .failure(Refusal(detail: "the path is not UTF-8 once decoded"))
        }
        if let refusal = overlongMarks(text) { return .failure(refusal) }
        return .success(String(decoding: output, as: UTF8.self))
    }

    /// The common case without allocating: no escape, no backslash, fragment or control character, no dot segment (nor
    /// one followed by path parameters).
    private static func plain(_ path: some StringProtocol) -> String? {
        var segmentLength = 0
        var dots = 0
        var parameters = false
        var first = true
        for byte in path.utf8 {
            if first {
                guard byte == UInt8(ascii: "/") else { return nil }
                first = false
                continue
            }
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "\\"), UInt8(ascii: "#"), 0x00..<0x20, 0x7F...0xFF: return nil
            case UInt8(ascii: "/"):
                if segmentLength > 0 && segmentLength == dots && dots <= 2 { return nil }
                segmentLength = 0
                dots = 0
                parameters = false
            case UInt8(ascii: ";") where !parameters:
                // What comes before the parameters is the segment a server resolves (`..;x` is `..`).
                if segmentLength > 0 && segmentLength == dots && dots <= 2 { return nil }
                parameters = true
            case _ where parameters:
                continue
            case UInt8(ascii: "."):
                segmentLength += 1
                dots += 1
            default:
                segmentLength += 1
            }
        }
        if first || (segmentLength > 0 && segmentLength == dots && dots <= 2) { return nil }
        return String(path)
    }

    /// The most combining marks in a row a path may have: the limit of Unicode's stream-safe text format (UAX #15). Routes
    /// compare segments as canonically equivalent strings, and normalising a run of marks costs the square of its
    /// length: a single letter followed by thousands of marks took a tenth of a second per route compared, before any
    /// identity or rate limit.
    static let maxMarksInARow = 30

    private static func overlongMarks(_ text: String) -> Refusal? {
        var run = 0
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            // Marks that reorder, and extenders that decompose into them (U+0F73 is a starter made of two marks).
            if properties.canonicalCombiningClass != .notReordered || properties.isGraphemeExtend {
                run += 1
                if run > maxMarksInARow { return Refusal(detail: "the path has more than \(maxMarksInARow) combining marks in a row") }
            } else {
                run = 0
            }
        }
        return nil
    }

    /// A segment equal to `.` or `..` after decoding (the output already holds decoded unreserved bytes), its path
    /// parameters aside (`..;x`).
    private static func dotSegment(_ whole: ArraySlice<UInt8>) -> Refusal? {
        let segment = whole.firstIndex(of: UInt8(ascii: ";")).map { whole[..<$0] } ?? whole
        let dot = UInt8(ascii: ".")
        if segment.count == 1 && segment.first == dot || segment.count == 2 && segment.allSatisfy({ $0 == dot }) {
            return Refusal(detail: "the path has a dot segment")
        }
        return nil
    }

    /// RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
        default: false
        }
    }

    private static func upperHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10
    }
}
