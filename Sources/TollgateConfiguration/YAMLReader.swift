import Yams

extension Node {
    /// Whether this is a plain scalar Yams would read as a YAML 1.1 base-60 whole number (`1:30:00`). Yams builds those
    /// with unchecked multiplications whatever the scalar resolved to (`Node.int`, its decoder), so a long one
    /// (`1:0:0:0:0:0:0:0:0:0:0`) would stop the process: such a value is refused, never read as a number.
    public var isBaseSixtyNumber: Bool {
        guard case .scalar(let scalar) = self, scalar.style == .plain || scalar.style == .any else { return false }
        return scalar.string.wholeMatch(of: /[-+]?[0-9][0-9_]*(:[0-9_]+)+/) != nil
    }

    /// The key path of the first base-60 number in this tree (`limits.paid.burst`, `routes[2]`), if any.
    public func firstBaseSixtyNumber(path: String = "") -> String? {
        switch self {
        case .scalar: return isBaseSixtyNumber ? path : nil
        case .mapping(let mapping):
            for (key, value) in mapping {
                let name = path.isEmpty ? (key.string ?? "?") : "\(path).\(key.string ?? "?")"
                if let found = value.firstBaseSixtyNumber(path: name) { return found }
            }
        case .sequence(let sequence):
            for (index, value) in sequence.enumerated() {
                if let found = value.firstBaseSixtyNumber(path: "\(path)[\(index)]") { return found }
            }
        case .alias: break
        }
        return nil
    }

    /// `int`, except for a base-60 scalar (nil).
    var wholeNumber: Int? { isBaseSixtyNumber ? nil : int }
}

/// Walks a YAML tree and collects every problem with its line, so `tollgate check` can report all
/// of them at once.
struct YAMLReader {
    var issues: [ConfigurationIssue] = []
    /// The line of every key and list item read, by key path (`routes[2]`, `routes[2].settle`), so
    /// later checks (`tollgate check`'s lint) can point at the place they are about.
    var lines: [String: Int] = [:]
    /// Key paths of values written as `${NAME}` references.
    var environmentReferences: Set<String> = []
    /// Where `${NAME}` references are read: the process's environment, or a test's own (`setenv` while another thread
    /// starts a process races the C library's copy of `environ`).
    var environment: [String: String]

    init(environment: [String: String]) {
        self.environment = environment
    }

    /// `${NAME}` is replaced by the environment variable, so tokens stay out of the file.
    func expandEnvironment(_ text: String) -> String {
        guard ConfigurationLoader.isEnvironmentReference(text) else { return text }
        return environment[String(text.dropFirst(2).dropLast())] ?? ""
    }

    mutating func note(_ node: Node?, _ path: String) {
        if let line = node?.mark?.line, lines[path] == nil { lines[path] = line }
    }

    mutating func fail(_ node: Node?, _ path: String, _ message: String) {
        issues.append(ConfigurationIssue(line: node?.mark?.line, path: path, message: message))
    }

    mutating func warn(_ node: Node?, _ path: String, _ message: String) {
        issues.append(ConfigurationIssue(line: node?.mark?.line, path: path, message: message, severity: .warning))
    }

    /// The mapping at `node`, reporting keys that are not in `known` (typos must not pass silently).
    mutating func mapping(_ node: Node?, _ path: String, known: Set<String>) -> [String: Node]? {
        guard let node else { return nil }
        guard let mapping = node.mapping else {
            fail(node, path, "expected a mapping of keys to values")
            return nil
        }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                fail(key, path, "keys must be strings")
                continue
            }
            if !known.contains(name) {
                fail(key, join(path, name), "unknown key (expected one of: \(known.sorted().joined(separator: ", ")))")
            }
            note(key, join(path, name))
            result[name] = value
        }
        return result
    }

    mutating func sequence(_ node: Node?, _ path: String) -> [Node]? {
        guard let node else { return nil }
        guard case .sequence(let sequence) = node else {
            fail(node, path, "expected a list")
            return nil
        }
        for (index, item) in sequence.enumerated() { note(item, "\(path)[\(index)]") }
        return Array(sequence)
    }

    mutating func string(_ node: Node?, _ path: String, required: Bool = false, parent: Node? = nil) -> String? {
        guard let node else {
            if required { fail(parent, path, "is required") }
            return nil
        }
        guard case .scalar(let scalar) = node else {
            fail(node, path, "expected a text value")
            return nil
        }
        return scalar.string
    }

    mutating func int(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let node else { return nil }
        guard let value = node.wholeNumber, !(node.string?.contains(".") ?? false) else {
            fail(node, path, "expected a whole number")
            return nil
        }
        guard range.contains(value) else {
            fail(node, path, "must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let node else { return nil }
        guard let value = node.bool else {
            fail(node, path, "expected true or false")
            return nil
        }
        return value
    }

    mutating func strings(_ node: Node?, _ path: String) -> [String]? {
        guard let items = sequence(node, path) else { return nil }
        return items.enumerated().compactMap { index, item in string(item, "\(path)[\(index)]") }
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}
