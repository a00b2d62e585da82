import GRDB

extension SQLiteStore {
    /// Usage events, package balances and refunds.
    static func migrateMetering(_ db: Database) throws {}
}
