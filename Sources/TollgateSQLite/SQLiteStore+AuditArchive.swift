import GRDB

extension SQLiteStore {
    /// Tables for audit retention (archived ranges and the anchor the chain continues from).
    static func migrateAuditArchive(_ db: Database) throws {}
}
