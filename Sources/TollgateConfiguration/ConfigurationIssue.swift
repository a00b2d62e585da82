/// One problem found in a configuration file, with where it is.
public struct ConfigurationIssue: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    public var line: Int?
    /// The key path (`routes[1].price`).
    public var path: String
    public var message: String
    public var severity: Severity

    public init(line: Int?, path: String, message: String, severity: Severity = .error) {
        self.line = line
        self.path = path
        self.message = message
        self.severity = severity
    }

    public var description: String {
        "\(line.map { "line \($0)" } ?? "file"): \(severity.rawValue): \(path.isEmpty ? "" : "\(path): ")\(message)"
    }
}

/// A configuration that could not be loaded, with every problem found (not only the first).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var issues: [ConfigurationIssue]

    public init(file: String, issues: [ConfigurationIssue]) {
        self.file = file
        self.issues = issues
    }

    public var description: String {
        (["\(file): \(issues.filter { $0.severity == .error }.count) error(s)"] + issues.map { "  \($0)" }).joined(separator: "\n")
    }
}
