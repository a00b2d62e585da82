import Foundation
import TollgateCore
import Yams

extension ConfigurationLoader {
    /// `audit`: `{retention_days: int ≥ 1, archive_dir: path, archive_interval_seconds: int}`. Returns the
    /// retention to apply, or nil when events are kept forever (no section, or no `retention_days`).
    /// `archive_dir` is used as written: relative to the directory `tollgate` runs in, like `storage.sqlite`.
    static func readAudit(_ node: Node?, _ r: inout YAMLReader) -> AuditRetention? {
        guard let node, let fields = r.mapping(node, "audit", known: ["retention_days", "archive_dir", "archive_interval_seconds"]) else {
            return nil
        }
        let days = r.int(fields["retention_days"], "audit.retention_days", range: 1...36_500)
        let directory = r.string(fields["archive_dir"], "audit.archive_dir")
        let interval = r.int(fields["archive_interval_seconds"], "audit.archive_interval_seconds", range: 1...604_800) ?? 3600
        if let directory, directory.trimmingCharacters(in: .whitespaces).isEmpty {
            r.fail(fields["archive_dir"], "audit.archive_dir", "must name a directory")
            return nil
        }
        guard fields["retention_days"] != nil else {
            for key in ["archive_dir", "archive_interval_seconds"] where fields[key] != nil {
                r.warn(fields[key], "audit.\(key)", "has no effect without retention_days (every event is kept)")
            }
            return nil
        }
        guard let directory else {
            r.fail(node, "audit.archive_dir", "is required with retention_days: events are archived there before they are deleted")
            return nil
        }
        guard let days else { return nil }
        return AuditRetention(retentionDays: days, archiveDirectory: directory, intervalSeconds: interval)
    }
}
