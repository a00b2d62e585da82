import GRDB
import TollgateCore

extension SQLiteStore: AuditHeadReading {
    public func auditHead() async throws -> AuditHead? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").map { AuditHead(seq: $0["seq"], hash: $0["hash"]) }
        }
    }

    /// Whether the log still holds `head` as it was published: the event of that seq, live or the last of an
    /// archived range, with that hash. Nil when the event is inside an archived range (check it with the archives).
    public func holds(_ head: AuditHead) async throws -> Bool? {
        try await writer.read { db in
            if let hash = try String.fetchOne(db, sql: "SELECT hash FROM audit_event WHERE seq = ?", arguments: [head.seq]) {
                return hash == head.hash
            }
            for record in try Self.auditArchives(db) where (record.firstSeq...record.lastSeq).contains(head.seq) {
                return record.lastSeq == head.seq ? record.anchor.hash == head.hash : nil
            }
            return false
        }
    }
}
