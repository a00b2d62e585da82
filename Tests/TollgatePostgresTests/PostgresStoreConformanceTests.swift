import Foundation
import Testing
import TollgateCore
import TollgatePostgres
import TollgateStoreConformance

/// The store conformance suite against PostgreSQL: the same checks as SQLite, each on new databases.
@Test(arguments: StoreConformance.checks)
func postgresStoreConforms(_ check: StoreConformance.Check) async throws {
    let opened = OpenedStores()
    defer { opened.closeAll() }
    try await check.run { keys in
        let (store, configuration) = try await TestDatabase.store(auditKeys: keys)
        opened.add(store, configuration)
        return store
    }
    for configuration in opened.configurations {
        try await TestDatabase.drop(try TestDatabase.cluster(), name: configuration.database)
    }
}

/// The stores a check opened, closed (and their databases dropped) when it ends.
final class OpenedStores: @unchecked Sendable {
    private let lock = NSLock()
    private var stores: [PostgresStore] = []
    private(set) var configurations: [PostgresStoreConfiguration] = []

    func add(_ store: PostgresStore, _ configuration: PostgresStoreConfiguration) {
        lock.withLock {
            stores.append(store)
            configurations.append(configuration)
        }
    }

    func closeAll() {
        lock.withLock { stores.forEach { $0.close() } }
    }
}
