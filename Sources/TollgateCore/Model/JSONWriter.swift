/// The one JSON writer: the audit chain's canonical events (whose hashes are stored, so its bytes never
/// change), offer claims, audit export lines, and the canonical form of any `JSONValue` (evidence bundles).
///
/// Keys are written in the order given, so callers that need canonical JSON pass them sorted; `value(_:)`
/// sorts object members by Unicode code point. Strings escape `"`, `\` and the control characters only:
/// `\n`, `\r`, `\t`, every other one (including U+0008 and U+000C) as `\u00XX` in lowercase hex; everything
/// else, `/` and non-ASCII included, is written as UTF-8.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func beginObject() {
        comma()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        comma()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A value written by the value itself (an element of an array, or after `key`).
    public mutating func write(_ value: some JSONWritable) {
        value.write(to: &self)
        needsComma = true
    }

    /// A member whose value writes itself; left out when nil.
    public mutating func field(_ name: String, _ value: (some JSONWritable)?) {
        guard let value else { return }
        key(name)
        write(value)
    }

    public mutating func key(_ name: String) {
        comma()
        string(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
        needsComma = true
    }

    public mutating func field(_ name: String, _ value: Int) {
        field(name, Int64(value))
    }

    /// A whole JSON value under a key; left out when nil.
    public mutating func field(_ name: String, _ value: JSONValue?) {
        guard let value else { return }
        key(name)
        self.value(value)
    }

    public mutating func field(_ name: String, _ value: Int64) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    /// A `[String: String]` as an object with sorted keys (`String` order, as the audit chain has always hashed).
    public mutating func field(_ name: String, _ value: [String: String]) {
        key(name)
        object(value)
    }

    /// A `[String: String]` as an object value with sorted keys (an array element, the value after `key`, or a whole document).
    public mutating func object(_ members: [String: String]) {
        beginObject()
        for (key, member) in members.sorted(by: { $0.key < $1.key }) { field(key, member) }
        endObject()
    }

    /// A whole JSON value: object members sorted by Unicode code point, no whitespace, integers as digits.
    public mutating func value(_ value: JSONValue) {
        comma()
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): bytes.append(contentsOf: String(number).utf8)
        case .number(let number): bytes.append(contentsOf: (number.isFinite ? "\(number)" : "null").utf8)
        case .string(let text): string(text)
        case .array(let values):
            bytes.append(UInt8(ascii: "["))
            needsComma = false
            for element in values { self.value(element) }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            needsComma = false
            for (name, member) in members.sorted(by: { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }) {
                key(name)
                self.value(member)
            }
            bytes.append(UInt8(ascii: "}"))
        }
        needsComma = true
    }

    /// One value already encoded as JSON (`RawJSON`), copied as it is.
    public mutating func raw(_ encoded: [UInt8]) {
        comma()
        bytes.append(contentsOf: encoded)
        needsComma = true
    }

    /// The bytes of one value that writes itself.
    public static func bytes(_ value: some JSONWritable, capacity: Int = 512) -> [UInt8] {
        var writer = JSONWriter(capacity: capacity)
        writer.write(value)
        return writer.bytes
    }

    private mutating func comma() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        Self.appendEscaped(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string (without its quotes), escaped as every string this writer writes: what a 402's
    /// terms template puts in its holes (`TermsTemplate`), so that it matches the bytes written whole.
    static func appendEscaped(_ value: String, to bytes: inout [UInt8]) {
        var text = value
        // Runs of bytes that need no escape are copied at once: most strings (tokens, URLs, ids) are one run.
        text.withUTF8 { utf8 in
            var runStart = 0
            var index = 0
            while index < utf8.count {
                // Eight bytes at a time while none of them needs an escape (offer tokens, URLs and base64 run long).
                if index + 8 <= utf8.count,
                   !Self.anyNeedsEscape(UnsafeRawPointer(utf8.baseAddress! + index).loadUnaligned(as: UInt64.self)) {
                    index += 8
                    continue
                }
                let byte = utf8[index]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                    escape(byte, to: &bytes)
                    runStart = index + 1
                }
                index += 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
    }

    /// Whether any of eight bytes is a control character, `"` or `\` (the bytes a JSON string escapes), by the usual
    /// SWAR tests: a byte below 0x20 (`x - 0x20` borrows into its high bit), or equal to 0x22 or 0x5C (`x ^ c` is zero).
    /// Bytes of 0x80 and above never match, but their high bit would pass the test's mask: it is masked out with `~x`.
    static func anyNeedsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let below = (word &- ones &* 0x20) & ~word & highs
        return (below | hasZeroByte(word ^ (ones &* 0x22)) | hasZeroByte(word ^ (ones &* 0x5C))) != 0
    }

    private static func escape(_ byte: UInt8, to bytes: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        default:
            bytes.append(contentsOf: Array("\\u00".utf8))
            bytes.append(hex[Int(byte >> 4)])
            bytes.append(hex[Int(byte & 0x0f)])
        }
    }
}

/// A value that writes its own JSON with `JSONWriter`: the messages of the request path (402 terms, refusals, x402
/// headers), where Foundation's `JSONEncoder` cost more CPU than the rest of a 402.
public protocol JSONWritable {
    /// Writes exactly one JSON value (usually `beginObject`, fields, `endObject`).
    func write(to writer: inout JSONWriter)
}

extension JSONValue: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.value(self) }
}

/// One JSON value already encoded (by `JSONWriter`), written as it is: parts of an answer that do not change between
/// requests are rendered once and spliced in.
public struct RawJSON: JSONWritable, Sendable, Hashable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ value: some JSONWritable) { bytes = JSONWriter.bytes(value) }
    public func write(to writer: inout JSONWriter) { writer.raw(bytes) }
}
