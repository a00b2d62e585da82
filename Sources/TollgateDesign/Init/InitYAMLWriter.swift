import TollgateCore
import Yams

/// Builds YAML text line by line, with comments, quoting scalars only where YAML would misread them.
struct InitYAMLWriter {
    private(set) var lines: [String] = []

    var text: String { lines.joined(separator: "\n") + "\n" }

    mutating func blank() { lines.append("") }

    /// `# text` lines at `indent` spaces.
    mutating func comment(_ text: String..., indent: Int = 0) {
        for line in text { lines.append(String(repeating: " ", count: indent) + (line.isEmpty ? "#" : "# \(line)")) }
    }

    /// `key: value`, the value written as it is (already a YAML fragment).
    mutating func raw(_ key: String, _ value: String, indent: Int = 0, comment: String? = nil) {
        lines.append(String(repeating: " ", count: indent) + "\(key): \(value)" + (comment.map { "  # \($0)" } ?? ""))
    }

    /// `key: scalar`.
    mutating func scalar(_ key: String, _ value: String, indent: Int = 0, comment: String? = nil) {
        raw(key, Self.scalar(value), indent: indent, comment: comment)
    }

    /// `key:` opening a nested block.
    mutating func open(_ key: String, indent: Int = 0) {
        lines.append(String(repeating: " ", count: indent) + "\(key):")
    }

    /// `- key: scalar` opening a list item.
    mutating func item(_ key: String, _ value: String, indent: Int = 0) {
        lines.append(String(repeating: " ", count: indent) + "- \(key): \(Self.scalar(value))")
    }

    /// A scalar as YAML: plain when that reads back as the same string, else double-quoted.
    static func scalar(_ value: String, flow: Bool = false) -> String {
        isPlain(value, flow: flow) ? value : quoted(value)
    }

    /// `[a, b]`.
    static func flowList(_ values: [String]) -> String { "[" + values.map { scalar($0, flow: true) }.joined(separator: ", ") + "]" }

    /// `{key: scalar}`.
    static func flowMap(_ key: String, _ value: String) -> String { flowMap([(key, scalar(value, flow: true))]) }

    /// `{k: v, …}` from pairs already rendered.
    static func flowMap(_ pairs: [(String, String)]) -> String { "{" + pairs.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}" }

    static func quoted(_ value: String) -> String {
        var result = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\x" + HexString.encode([UInt8(scalar.value)])
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    private static func isPlain(_ value: String, flow: Bool) -> Bool {
        guard let first = value.unicodeScalars.first, let last = value.unicodeScalars.last else { return false }
        let allowed = flow ? "._/:@+-*()=?" : "._/:@+-*()=? ,;'"
        guard value.unicodeScalars.allSatisfy({ isAlphanumeric($0) || allowed.unicodeScalars.contains($0) }),
              isAlphanumeric(first) || first == "/" || first == ".", last != " ", last != ":",
              !value.contains(": "), !value.contains(" #"), !value.contains(":/") || !flow || value.hasPrefix("http") else { return false }
        return Resolver.default.resolveTag(of: Node.scalar(.init(value))) == .str
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
