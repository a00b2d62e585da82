import Foundation
import TollgateCore
import Yams

extension ConfigurationLoader {
    /// What the `audit` section says.
    struct AuditSection {
        /// nil when events are kept forever.
        var retention: AuditRetention?
        /// `denials: all` (the default) or `none`.
        var auditsDenials = true
        /// Where the head is appended on its schedule (`head_file`), and how often (`head_interval_seconds`).
        var headFile: String?
        var headIntervalSeconds = 60
        /// `unkeyed_through_seq`: the last event of a chain written before it was keyed (0: every event is keyed).
        var unkeyedThroughSeq: Int64 = 0
    }

    /// `audit`: `{retention_days: int ≥ 1, archive_dir: path, archive_interval_seconds: int, denials: all | none, head_file: path,
    /// head_interval_seconds: int, unkeyed_through_seq: int ≥ 0}`.
    static func readAudit(_ node: Node?, _ r: inout YAMLReader) -> AuditSection {
        guard let node, let fields = r.mapping(node, "audit", known: ["retention_days", "archive_dir", "archive_interval_seconds", "denials",
                                                                     "head_file", "head_interval_seconds", "unkeyed_through_seq"]) else {
            return AuditSection()
        }
        var denials = true
        if let text = r.string(fields["denials"], "audit.denials") {
            switch text {
            case "all": denials = true
            case "none": denials = false
            default: r.fail(fields["denials"], "audit.denials", "expected all (every refusal is audited, the default) or none")
            }
        }
        var section = AuditSection(retention: readRetention(node, fields, &r), auditsDenials: denials)
        section.headFile = r.string(fields["head_file"], "audit.head_file")
        section.headIntervalSeconds = r.int(fields["head_interval_seconds"], "audit.head_interval_seconds", range: 1...86_400) ?? 60
        section.unkeyedThroughSeq = Int64(r.int(fields["unkeyed_through_seq"], "audit.unkeyed_through_seq", range: 0...Int(Int32.max) * 1024) ?? 0)
        return section
    }

    /// The retention to apply, or nil when events are kept forever (no `retention_days`).
    /// `archive_dir` is used as written: relative to the directory `tollgate` runs in, like `storage.sqlite`.
    private static func readRetention(_ node: Node, _ fields: [String: Node], _ r: inout YAMLReader) -> AuditRetention? {
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
