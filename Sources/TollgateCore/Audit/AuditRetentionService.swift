import Logging
import ServiceLifecycle

/// Applies `audit.retention_days`: every `intervalSeconds`, events older than the retention period are
/// archived to JSONL files and deleted from the live table (`AuditLogStore.archiveAuditLog`). A failed run
/// deletes nothing and is retried at the next interval.
public struct AuditRetentionService: Service {
    let store: any AuditLogStore
    let retention: AuditRetention
    let clock: any GatewayClock
    let logger: Logger

    public init(store: any AuditLogStore, retention: AuditRetention, clock: any GatewayClock = SystemClock(), logger: Logger) {
        self.store = store
        self.retention = retention
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await loop() }
    }

    /// One retention pass; returns the ranges archived.
    @discardableResult
    public func runOnce() async -> [AuditArchiveRecord] {
        do {
            // Each range is logged as it is committed, so those archived before a failure are logged too.
            return try await store.archiveAuditLog(retention, nowMillis: clock.nowMillis()) { record in
                logger.info("audit events archived", metadata: [
                    "tollgate.audit.first_seq": "\(record.firstSeq)", "tollgate.audit.last_seq": "\(record.lastSeq)",
                    "tollgate.audit.count": "\(record.eventCount)", "tollgate.audit.file": "\(record.file)",
                    "tollgate.audit.file_sha256": "\(record.fileSHA256)",
                ])
            }
        } catch is CancellationError {
            return []  // shutting down: whatever was not committed stays live
        } catch {
            logger.error("audit archiving failed; the range being archived was not deleted", metadata: ["tollgate.error": "\(error)"])
            return []
        }
    }

    private func loop() async throws {
        while !Task.isCancelled {
            await runOnce()
            do {
                try await Task.sleep(for: .seconds(retention.intervalSeconds))
            } catch {
                return
            }
        }
    }
}
