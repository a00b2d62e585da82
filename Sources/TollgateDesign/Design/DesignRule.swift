/// One anti-pattern rule of the general list: every rule `ConfigurationLint` knows (docs/lint.md).
public struct DesignRule: Sendable, Hashable, Codable {
    public var id: String
    public var severity: LintSeverity
    public var title: String
    /// What makes it fire, in configuration terms.
    public var trigger: String
    public var why: String
    public var fix: String
    /// Whether it fired on this configuration.
    public var fired: Bool
}
