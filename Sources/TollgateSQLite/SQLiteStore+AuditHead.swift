import GRDB
import TollgateCore

extension SQLiteStore {
    public func auditHead() async throws -> AuditHead? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").map { AuditHead(seq: $0["seq"], hash: $0["hash"]) }
        }
    }

    public func holds(_ head: AuditHead) async throws -> Bool? {
        try await writer.read { db in
            head.isHeld(liveHash: try String.fetchOne(db, sql: "SELECT hash FROM audit_event WHERE seq = ?", arguments: [head.seq]),
                        archives: try Self.auditArchives(db))
        }
    }
}
