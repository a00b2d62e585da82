import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    /// Verifies the audit hash chain, reading everything from one snapshot of the database and streaming
    /// rows (bounded memory whatever the size of the log).
    ///
    /// Without `archives`, the live table is checked from the latest archive anchor, together with the
    /// links between the archived ranges the database records. With `archives` (the archive directory),
    /// the chain is walked from genesis through every archive file (each file's SHA-256 is compared with
    /// the one recorded when it was written) and on into the live table.
    public func verifyAuditLog(archives directory: String?) async throws -> AuditVerifier.Report {
        try await writer.read { db in
            var verifier = AuditVerifier.continuing(archives: try Self.auditArchives(db), directory: directory, keys: auditKeys)
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_event ORDER BY seq")
            while let row = try cursor.next() { verifier.consume(Self.recorded(row)) }
            return verifier.finish(sequenceValue: try Self.auditSequenceValue(db))
        }
    }
}
