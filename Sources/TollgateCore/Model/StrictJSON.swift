/// A structural check of JSON text that general-purpose decoders do not make: no object may name the
/// same key twice, however the key is spelled (`"nonce"` and `"\u006eonce"` are one key).
///
/// Decoders disagree on duplicates (Foundation keeps one, a facilitator's parser may keep the other), so a
/// payload with two `nonce` or two `signature` members could be checked with one value and settled with the
/// other. A proof is refused before anything else reads it if this finds a duplicate.
public enum StrictJSON {
    /// Why a text was refused.
    public struct Violation: Error, Sendable, Hashable, CustomStringConvertible {
        /// The duplicated key (decoded) or nil when the text is not JSON at all.
        public let duplicateKey: String?
        public let offset: Int
        public var description: String {
            duplicateKey.map { "the key \"\($0)\" appears twice in one object (byte \(offset))" } ?? "not JSON (byte \(offset))"
        }
    }

    /// Nesting deeper than this is refused (no payment payload comes close), which bounds the stack.
    public static let maxDepth = 32

    /// Nil when `bytes` is one well-formed JSON value (RFC 8259) with no repeated key in any object.
    public static func violation(in bytes: [UInt8]) -> Violation? {
        var scanner = Scanner(bytes: bytes)
        do {
            try scanner.document()
            return nil
        } catch let failure as Failure {
            return Violation(duplicateKey: failure.key, offset: failure.offset)
        } catch {
            return Violation(duplicateKey: nil, offset: scanner.index)
        }
    }

    struct Failure: Error {
        let key: String?
        let offset: Int
    }

    /// One pass over JSON text. As `StrictJSON` uses it, it refuses repeated keys; as `JSONFieldFilter` uses it, it
    /// also notes where the members named in `removing` are, so they can be cut out of the text without parsing it
    /// into objects and writing it again.
    struct Scanner {
        let bytes: [UInt8]
        var index = 0
        let rejectsDuplicates: Bool
        let maxDepth: Int
        /// The tree reader notes a number its tree would not carry exactly (`treeNotingExactness`).
        var notesInexactNumbers = false
        var sawInexactNumber = false
        /// Decoded (UTF-8) keys whose members are to be removed, at any depth.
        let removing: Set<[UInt8]>
        /// Byte ranges to cut, each with the number of members it removes; disjoint once the scan is done.
        var cuts: [(range: Range<Int>, members: Int)] = []

        init(bytes: [UInt8], rejectsDuplicates: Bool = true, maxDepth: Int = StrictJSON.maxDepth, removing: Set<[UInt8]> = []) {
            self.bytes = bytes
            self.rejectsDuplicates = rejectsDuplicates
            self.maxDepth = maxDepth
            self.removing = removing
        }

        /// Scans one whole document (surrounding whitespace allowed).
        mutating func document() throws {
            skipSpace()
            try value(depth: 0)
            skipSpace()
            guard index == bytes.count else { throw Failure(key: nil, offset: index) }
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        func fail() -> Failure { Failure(key: nil, offset: index) }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8) throws {
            guard current == byte else { throw fail() }
            index += 1
        }

        mutating func value(depth: Int) throws {
            guard depth < maxDepth else { throw fail() }
            switch current {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try number()
            }
        }

        mutating func object(depth: Int) throws {
            index += 1
            var keys = Set<[UInt8]>()
            // Each member's text (key to end of value) and whether it goes, when some member goes.
            var members: [(range: Range<Int>, removed: Bool)] = []
            var removesAny = false
            skipSpace()
            if current == UInt8(ascii: "}") { index += 1; return }
            while true {
                skipSpace()
                let start = index
                let key = try string()
                if rejectsDuplicates, !keys.insert(key).inserted {
                    throw Failure(key: String(decoding: key, as: UTF8.self), offset: start)
                }
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                try value(depth: depth + 1)
                if !removing.isEmpty {
                    let removed = removing.contains(key)
                    removesAny = removesAny || removed
                    members.append((start..<index, removed))
                }
                skipSpace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"))
                if removesAny { cut(members) }
                return
            }
        }

        /// Notes the cuts that remove an object's marked members with their commas: a run of removed members
        /// followed by a kept one goes up to that member's key; a run at the end goes from the last kept value.
        mutating func cut(_ members: [(range: Range<Int>, removed: Bool)]) {
            var runStart: Int?
            for (position, member) in members.enumerated() {
                if member.removed {
                    if runStart == nil { runStart = position }
                    continue
                }
                if let first = runStart {
                    addCut(members[first].range.lowerBound..<member.range.lowerBound, members: position - first)
                    runStart = nil
                }
            }
            guard let first = runStart else { return }
            let from = first > 0 ? members[first - 1].range.upperBound : members[first].range.lowerBound
            addCut(from..<members[members.count - 1].range.upperBound, members: members.count - first)
        }

        /// A cut replaces the cuts inside it: a removed member's own fields are not counted.
        mutating func addCut(_ range: Range<Int>, members: Int) {
            cuts.removeAll { range.contains($0.range.lowerBound) }
            cuts.append((range, members))
        }

        mutating func array(depth: Int) throws {
            index += 1
            skipSpace()
            if current == UInt8(ascii: "]") { index += 1; return }
            while true {
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "]"))
                return
            }
        }

        mutating func literal(_ word: String) throws {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, bytes[index..<(index + expected.count)].elementsEqual(expected) else { throw fail() }
            index += expected.count
        }

        mutating func number() throws {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, isDigit(first) else { throw fail() }
            if first == UInt8(ascii: "0") { index += 1 } else { digits() }
            if current == UInt8(ascii: ".") {
                index += 1
                guard let next = current, isDigit(next) else { throw fail() }
                digits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let next = current, isDigit(next) else { throw fail() }
                digits()
            }
            if index == start { throw fail() }
        }

        mutating func digits() {
            while let byte = current, isDigit(byte) { index += 1 }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

        /// The decoded UTF-8 of a string (escapes resolved), so two spellings of one key compare equal.
        mutating func string() throws -> [UInt8] {
            if let range = try checkedPlainString() { return Array(bytes[range]) }
            return try escapedString()
        }

        /// Past a string, checked as `string()` checks it, its contents not kept: a value this pass only validates (an
        /// upstream answer `JSONFieldFilter` scans has many) costs no copy.
        mutating func skipString() throws {
            if try checkedPlainString() == nil { _ = try escapedString() }
        }

        /// `plainString()`, its contents checked to be UTF-8.
        private mutating func checkedPlainString() throws -> Range<Int>? {
            guard let plain = try plainString() else { return nil }
            guard plain.isASCII || String(validating: bytes[plain.range], as: UTF8.self) != nil else { throw fail() }
            return plain.range
        }

        /// The decoded text of a string, made once: a string without escapes (nearly all) is validated and copied in
        /// one step, and an ASCII one (nearly all of those) needs no validation.
        mutating func text() throws -> String {
            if let plain = try plainString() {
                // `String(validating:)` is generic over the slice and looks up its metadata at each call.
                if plain.isASCII { return String(decoding: bytes[plain.range], as: UTF8.self) }
                guard let text = String(validating: bytes[plain.range], as: UTF8.self) else { throw fail() }
                return text
            }
            return String(decoding: try escapedString(), as: UTF8.self)
        }

        /// At a string without escapes or control characters: its contents' range and whether they are all ASCII, the
        /// scanner past its closing quote. At any other string: nil, the scanner where it was.
        mutating func plainString() throws -> (range: Range<Int>, isASCII: Bool)? {
            guard current == UInt8(ascii: "\"") else { throw fail() }
            var end = index + 1
            var high: UInt8 = 0
            while end < bytes.count {
                let byte = bytes[end]
                if byte == UInt8(ascii: "\"") {
                    defer { index = end + 1 }
                    return ((index + 1)..<end, high < 0x80)
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                high |= byte
                end += 1
            }
            return nil
        }

        mutating func escapedString() throws -> [UInt8] {
            try expect(UInt8(ascii: "\""))
            var decoded: [UInt8] = []
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard String(validating: decoded, as: UTF8.self) != nil else { throw fail() }
                    return decoded
                case UInt8(ascii: "\\"):
                    try escape(into: &decoded)
                case 0x00..<0x20:
                    throw fail()
                default:
                    decoded.append(byte)
                }
            }
            throw fail()
        }

        mutating func escape(into decoded: inout [UInt8]) throws {
            guard let byte = current else { throw fail() }
            index += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(byte)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one; a lone half is refused.
                    guard current == UInt8(ascii: "\\") else { throw fail() }
                    index += 1
                    try expect(UInt8(ascii: "u"))
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail() }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail()
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw fail() }
                decoded.append(contentsOf: Array(String(Character(unicode)).utf8))
            default:
                throw fail()
            }
        }

        mutating func hex4() throws -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = current, let nibble = HexString.nibble(byte) else { throw fail() }
                value = value << 4 | UInt32(nibble)
                index += 1
            }
            return value
        }
    }
}
