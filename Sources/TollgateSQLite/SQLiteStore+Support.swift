import GRDB

extension SQLiteStore {
    /// Tables for disputes.
    static func migrateSupport(_ db: Database) throws {}
}
