import Logging
import ServiceLifecycle

/// The `audit:` retention settings: events older than `retentionDays` are written to JSONL files in
/// `archiveDirectory`, then deleted from the live table, every `intervalSeconds` (docs/audit.md).
public struct AuditRetention: Sendable, Hashable {
    /// Events are kept in the live table at least this long.
    public var retentionDays: Int
    /// Where archive files go (`audit-<firstSeq>-<lastSeq>.jsonl`).
    public var archiveDirectory: String
    /// How often the gateway archives.
    public var intervalSeconds: Int

    public init(retentionDays: Int, archiveDirectory: String, intervalSeconds: Int = 3600) {
        self.retentionDays = retentionDays
        self.archiveDirectory = archiveDirectory
        self.intervalSeconds = intervalSeconds
    }

    /// Events with `timeMillis` below this are old enough to archive.
    public func cutoffMillis(now nowMillis: Int64) -> Int64 { nowMillis - Int64(retentionDays) * 86_400_000 }
}

/// A store that can archive its audit log: the gateway asks it for the service that applies an
/// `AuditRetention` (a store that cannot archive simply keeps every event).
public protocol AuditRetaining: Sendable {
    /// The long-running service that archives on `retention`'s schedule.
    func auditRetentionService(_ retention: AuditRetention, logger: Logger) -> any Service
}
