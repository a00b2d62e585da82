#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GRDB
import TollgateCore

extension SQLiteStore {
    /// The newest event, once durable. A reservation commits without its own sync (its flow's next commit syncs it before
    /// any money moves), and the head is what gets published as a commitment (`AuditHeadPublisher`): so the log is synced
    /// before the head read from it is returned, and a published head never names events power loss could take back.
    public func auditHead() async throws -> AuditHead? {
        try await writer.read { [walPath] db in
            let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").map { AuditHead(seq: $0["seq"], hash: $0["hash"]) }
            // Every frame read above was written before its commit returned; a checkpoint syncs what it copies.
            if let walPath { try Self.sync(walPath) }
            return head
        }
    }

    /// `fsync` of the file at `path`, if there is one.
    static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return }
            throw TollgateError(.storeUnavailable, "cannot open \(path) to sync it (errno \(errno))")
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw TollgateError(.storeUnavailable, "cannot sync \(path) (errno \(errno))") }
    }

    public func holds(_ head: AuditHead) async throws -> Bool? {
        try await writer.read { db in
            head.isHeld(liveHash: try String.fetchOne(db, sql: "SELECT hash FROM audit_event WHERE seq = ?", arguments: [head.seq]),
                        archives: try Self.auditArchives(db))
        }
    }
}
