extension DesignRule {
    /// Every rule of `ConfigurationLint.rules`, sorted by id, marked when it fired here. A finding whose
    /// rule the catalogue does not list (a rule added without its entry) is listed too, from the finding.
    static func generalList(findings: [LintFinding]) -> [DesignRule] {
        let fired = Set(findings.map(\.rule))
        var rules = ConfigurationLint.rules.map {
            DesignRule(id: $0.id, severity: $0.severity, title: $0.title, trigger: $0.trigger, why: $0.why, fix: $0.fix, fired: fired.contains($0.id))
        }
        for finding in findings where !rules.contains(where: { $0.id == finding.rule }) {
            rules.append(DesignRule(id: finding.rule, severity: finding.severity, title: finding.message, trigger: finding.message,
                                    why: finding.why, fix: finding.fix, fired: true))
        }
        return rules.sorted { $0.id < $1.id }
    }
}
