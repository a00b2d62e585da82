import Foundation
import Testing
import TollgateSQLite
import TollgateStoreConformance

/// The store conformance suite against SQLite, each check on fresh database files.
@Test(arguments: StoreConformance.checks)
func sqliteStoreConforms(_ check: StoreConformance.Check) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-conformance-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    try await check.run { keys in try SQLiteStores.open(path: directory.appendingPathComponent("\(UUID().uuidString).sqlite").path, auditKeys: keys) }
}
