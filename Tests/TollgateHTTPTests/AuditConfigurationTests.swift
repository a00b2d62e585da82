import Testing
@testable import TollgateConfiguration
import TollgateCore

@Suite struct AuditConfigurationTests {
    static let base = """
        upstream: {url: "http://127.0.0.1:8403"}
        secrets: [{id: k1, env: TOLLGATE_SECRET}]
        routes: [{path: /free, resource: free, anonymous: true}]

        """

    func issues(_ yaml: String) -> [ConfigurationIssue] {
        do {
            return try ConfigurationLoader.parse(Self.base + yaml).warnings
        } catch {
            return error.issues
        }
    }

    @Test func absentMeansKeepForever() throws {
        #expect(try ConfigurationLoader.parse(Self.base).0.auditRetention == nil)
    }

    @Test func retentionWithItsDirectoryAndDefaultInterval() throws {
        let (configuration, warnings) = try ConfigurationLoader.parse(Self.base + "audit: {retention_days: 90, archive_dir: .tollgate/audit}")
        #expect(warnings.isEmpty)
        #expect(configuration.auditRetention == AuditRetention(retentionDays: 90, archiveDirectory: ".tollgate/audit", intervalSeconds: 3600))
        let custom = try ConfigurationLoader.parse(Self.base + "audit: {retention_days: 1, archive_dir: /srv/a, archive_interval_seconds: 60}")
        #expect(custom.0.auditRetention?.intervalSeconds == 60)
    }

    @Test func invalidValuesAreReportedWithTheirLine() {
        let missingDirectory = issues("audit:\n  retention_days: 30")
        #expect(missingDirectory.contains { $0.path == "audit.archive_dir" && $0.severity == .error && $0.line == 5 })
        let zero = issues("audit:\n  archive_dir: /a\n  retention_days: 0")
        #expect(zero.contains { $0.path == "audit.retention_days" && $0.severity == .error && $0.line == 6 })
        let notANumber = issues("audit: {retention_days: soon, archive_dir: /a}")
        #expect(notANumber.contains { $0.path == "audit.retention_days" && $0.message.contains("whole number") })
        let interval = issues("audit: {retention_days: 3, archive_dir: /a, archive_interval_seconds: 0}")
        #expect(interval.contains { $0.path == "audit.archive_interval_seconds" && $0.severity == .error })
        let typo = issues("audit: {retention_day: 3, archive_dir: /a}")
        #expect(typo.contains { $0.path == "audit.retention_day" && $0.severity == .error && $0.message.contains("unknown key") })
        #expect(issues("audit: [1]").contains { $0.path == "audit" && $0.severity == .error })
    }

    @Test func aDirectoryWithoutRetentionOnlyWarns() throws {
        let (configuration, warnings) = try ConfigurationLoader.parse(Self.base + "audit: {archive_dir: /a}")
        #expect(configuration.auditRetention == nil)
        #expect(warnings.contains { $0.path == "audit.archive_dir" && $0.severity == .warning })
    }
}
