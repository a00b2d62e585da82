extension StrictJSON {
    /// The tree of `bytes` as `parse` reads it, or nil when they are not strict JSON (the violation is not needed).
    public static func tree(_ bytes: [UInt8]) -> JSONValue? {
        tree(bytes, maxDepth: maxDepth)
    }

    /// `tree(_:)` nested at most `maxDepth` deep.
    public static func tree(_ bytes: [UInt8], maxDepth: Int) -> JSONValue? {
        guard case .success(let tree) = parse(bytes, maxDepth: maxDepth) else { return nil }
        return tree
    }

    /// `tree(_:maxDepth:)`, and whether the tree carries every number exactly: written again from it (`canonicalBytes`),
    /// each number has the value it was written with. Integers beyond `Int64` and decimals written with more digits than
    /// their double's shortest form do not (`18446744073709551615` would be written `1.8446744073709552e+19`,
    /// `0.10000000000000001` as `0.1`). Read in the same pass as the tree.
    public static func treeNotingExactness(_ bytes: [UInt8], maxDepth: Int) -> (tree: JSONValue, carriesNumbersExactly: Bool)? {
        var scanner = Scanner(bytes: bytes, maxDepth: maxDepth)
        scanner.notesInexactNumbers = true
        guard case .success(let tree) = read(&scanner) else { return nil }
        return (tree, !scanner.sawInexactNumber)
    }

    /// Whether `bytes` are strict JSON whose tree carries every number exactly (`treeNotingExactness`).
    public static func carriesNumbersExactly(_ bytes: [UInt8], maxDepth: Int = StrictJSON.maxDepth) -> Bool {
        treeNotingExactness(bytes, maxDepth: maxDepth)?.carriesNumbersExactly ?? false
    }

    /// One JSON document as a tree, read in the pass that checks it: a proof is parsed once, not checked by
    /// `violation(in:)` and then read again by `JSONDecoder`.
    ///
    /// It refuses what `violation(in:)` refuses, with the same violation, and two further things: keys that Swift
    /// compares equal (canonically equivalent spellings, which a decoder into a dictionary would merge), and numbers
    /// beyond the range of `Double`. Numbers read as `JSONDecoder` reads them into `JSONValue`: an integer when the
    /// value is a whole number within `Int64` (`2`, `2.0`, `2e0`), a `Double` otherwise. (Written with a fraction or an
    /// exponent, a number is read through `Double`, where Foundation uses its own decimal rules; the two differ only
    /// beyond `Double`'s precision: `9267890061728141.5` is 9267890061728142 here and 9267890061728141 there.)
    ///
    /// - Parameter maxDepth: how deeply arrays and objects may nest (`StrictJSON.maxDepth` for x402 documents; a carrier
    ///   of arbitrary JSON such as an MCP message allows more).
    public static func parse(_ bytes: [UInt8], maxDepth: Int = StrictJSON.maxDepth) -> Result<JSONValue, Violation> {
        var scanner = Scanner(bytes: bytes, maxDepth: maxDepth)
        return read(&scanner)
    }

    private static func read(_ scanner: inout Scanner) -> Result<JSONValue, Violation> {
        do {
            scanner.skipSpace()
            let value = try scanner.tree(depth: 0)
            scanner.skipSpace()
            guard scanner.index == scanner.bytes.count else { throw scanner.fail() }
            return .success(value)
        } catch let failure as Failure {
            return .failure(Violation(duplicateKey: failure.key, offset: failure.offset))
        } catch {
            return .failure(Violation(duplicateKey: nil, offset: scanner.index))
        }
    }
}

extension StrictJSON.Scanner {
    mutating func tree(depth: Int) throws -> JSONValue {
        guard depth < maxDepth else { throw fail() }
        switch current {
        case UInt8(ascii: "{"): return .object(try members(depth: depth))
        case UInt8(ascii: "["): return .array(try items(depth: depth))
        case UInt8(ascii: "\""): return .string(try text())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default: return try numberValue()
        }
    }

    mutating func members(depth: Int) throws -> [String: JSONValue] {
        index += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if current == UInt8(ascii: "}") {
            index += 1
            return members
        }
        while true {
            skipSpace()
            let start = index
            let key = try text()
            // Refused at the key, before its value is read: the violation `violation(in:)` reports.
            guard members[key] == nil else { throw StrictJSON.Failure(key: key, offset: start) }
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            members[key] = try tree(depth: depth + 1)
            skipSpace()
            if current == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect(UInt8(ascii: "}"))
            return members
        }
    }

    mutating func items(depth: Int) throws -> [JSONValue] {
        index += 1
        var items: [JSONValue] = []
        skipSpace()
        if current == UInt8(ascii: "]") {
            index += 1
            return items
        }
        while true {
            skipSpace()
            items.append(try tree(depth: depth + 1))
            skipSpace()
            if current == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect(UInt8(ascii: "]"))
            return items
        }
    }

    mutating func numberValue() throws -> JSONValue {
        let start = index
        try number()
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        let whole = !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        if whole, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw StrictJSON.Failure(key: nil, offset: start) }
        // A whole number beyond Int64 stays a Double, even where rounding would bring it within range (-2^63 - 1).
        let read: JSONValue = whole ? .number(value) : Int64(exactly: value).map(JSONValue.integer) ?? .number(value)
        if notesInexactNumbers, !sawInexactNumber {
            let written = switch read {
            case .integer(let integer): "\(integer)"
            default: "\(value)"
            }
            if let literal = DecimalValue(text), literal == DecimalValue(written) {} else { sawInexactNumber = true }
        }
        return read
    }
}
