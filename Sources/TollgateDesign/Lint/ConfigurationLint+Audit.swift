import TollgateConfiguration

extension ConfigurationLint {
    /// TG114: refusals left out of the audit log.
    static func checkAudit(_ c: inout LintContext) {
        guard !c.configuration.auditsDenials else { return }
        c.report(.denialsNotAudited, at: "audit.denials",
                 "`audit.denials: none`: 401, 403, 404, 429 and other refusals off the paid path leave no audit event")
    }
}
