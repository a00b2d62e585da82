import Testing
import TollgateStoreConformance

/// The store conformance suite against the in-memory store the gateway tests use, so what they show holds for SQLite too.
@Test(arguments: StoreConformance.checks)
func inMemoryStoreConforms(_ check: StoreConformance.Check) async throws {
    try await check.run { keys in InMemoryStore(auditKeys: keys) }
}
