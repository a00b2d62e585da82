/// How much a finding matters: `error` makes `tollgate check` fail, `warning` and `info` are reported.
public enum LintSeverity: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
    case info
    case warning
    case error

    public static func < (lhs: LintSeverity, rhs: LintSeverity) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One rule that fired on one place of a configuration.
public struct LintFinding: Sendable, Hashable, Codable {
    /// The rule's stable id (`TG101`), for docs and suppression.
    public var rule: String
    public var severity: LintSeverity
    /// The key path it is about (`routes[2].settle`), "" for the file as a whole.
    public var path: String
    /// The line in the configuration file, when known.
    public var line: Int?
    /// What is wrong here, in this configuration's terms.
    public var message: String
    /// Why it matters.
    public var why: String
    /// What to change.
    public var fix: String

    public init(rule: String, severity: LintSeverity, path: String, line: Int? = nil, message: String, why: String, fix: String) {
        self.rule = rule
        self.severity = severity
        self.path = path
        self.line = line
        self.message = message
        self.why = why
        self.fix = fix
    }
}
