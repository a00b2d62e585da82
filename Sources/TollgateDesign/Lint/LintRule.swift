/// One configuration lint rule, as `tollgate design` lists them and docs/lint.md documents them.
public struct LintRule: Sendable, Hashable, Codable, Identifiable {
    /// The stable id (`TG101`).
    public var id: String
    /// The severity of its findings. A few rules raise or lower it for some cases; `cases` says when.
    public var severity: LintSeverity
    /// A short name (`paid route open to any key holder`).
    public var title: String
    /// What makes it fire, in configuration terms.
    public var trigger: String
    /// Why it matters.
    public var why: String
    /// What to change, in general (each finding carries its own, naming the place).
    public var fix: String
    /// Cases whose severity differs from `severity`, in words ("error when …"); nil when there are none.
    public var cases: String?

    public init(id: String, severity: LintSeverity, title: String, trigger: String, why: String, fix: String, cases: String? = nil) {
        self.id = id
        self.severity = severity
        self.title = title
        self.trigger = trigger
        self.why = why
        self.fix = fix
        self.cases = cases
    }
}
