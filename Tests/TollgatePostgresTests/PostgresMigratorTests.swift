import PostgresNIO
import Testing
import TollgateCore
import TollgatePostgres

@Suite("PostgreSQL migrations")
struct PostgresMigratorTests {
    @Test func theClusterIsNamed() throws {
        // Fails (never skips) without TOLLGATE_TEST_POSTGRES_URL, with how to start a cluster.
        _ = try TestDatabase.cluster()
    }

    @Test func migrationsCreateEveryTableOnAnEmptyDatabase() async throws {
        try await TestDatabase.withFresh { client, _ in
            #expect(try await TestDatabase.tables(client).isEmpty)
            let applied = try await PostgresMigrator.migrate(client: client, logger: TestDatabase.logger)
            #expect(applied == PostgresMigrations.all.map(\.version))
            let tables = try await TestDatabase.tables(client)
            #expect(tables == (PostgresMigrations.tables + ["tollgate_migrations"]).sorted())
            #expect(try await PostgresMigrator.appliedVersions(client: client, logger: TestDatabase.logger) == applied)
            // The payment table is indexed for its lookups only (`4-unused-payer-index`).
            var indexes: [String] = []
            for try await name in try await client.query(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'payment' ORDER BY indexname", logger: TestDatabase.logger).decode(String.self) {
                indexes.append(name)
            }
            #expect(indexes == ["payment_client", "payment_correlation", "payment_nonce", "payment_payer_lower", "payment_pkey", "payment_tx_lower"])
        }
    }

    @Test func aSecondRunAppliesNothing() async throws {
        try await TestDatabase.withFresh { client, _ in
            let first = try await PostgresMigrator.migrate(client: client, logger: TestDatabase.logger)
            let second = try await PostgresMigrator.migrate(client: client, logger: TestDatabase.logger)
            #expect(first == PostgresMigrations.all.map(\.version))
            #expect(second.isEmpty)
        }
    }

    /// Also on a database whose default isolation is repeatable read: a run waiting for the lock must see the versions
    /// the run before it recorded.
    @Test(arguments: [nil, "repeatable read"])
    func concurrentRunsApplyEachVersionOnce(defaultIsolation: String?) async throws {
        try await TestDatabase.withFresh(poolSize: 8) { client, configuration in
            if let defaultIsolation {
                try await client.query(PostgresQuery(unsafeSQL: """
                    ALTER DATABASE \(configuration.database) SET default_transaction_isolation = '\(defaultIsolation)'
                    """), logger: TestDatabase.logger)
            }
            // Separate clients, as separate instances would have.
            let results = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let own = try PostgresClients.make(configuration, logger: TestDatabase.logger)
                        return try await PostgresClients.withRunning(own) { own in
                            try await PostgresMigrator.migrate(client: own, logger: TestDatabase.logger)
                        }
                    }
                }
                var all: [[String]] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(results.flatMap { $0 } == PostgresMigrations.all.map(\.version))
            #expect(results.filter(\.isEmpty).count == 3)
            var count = 0
            for try await n in try await client.query("SELECT count(*)::BIGINT FROM tollgate_migrations", logger: TestDatabase.logger).decode(Int64.self) {
                count = Int(n)
            }
            #expect(count == PostgresMigrations.all.count)
        }
    }

    @Test func tokenAmountsKeepEveryDigit() async throws {
        try await TestDatabase.withFresh { client, _ in
            try await PostgresMigrator.migrate(client: client, logger: TestDatabase.logger)
            let amount = "115792089237316195423570985008687907853269984665640564039457584007913129639935"  // 2^256 - 1
            try await client.query("INSERT INTO spend_total (subject, bucket, total) VALUES ('c', 'b', \(amount))", logger: TestDatabase.logger)
            var read: [String] = []
            for try await total in try await client.query("SELECT total FROM spend_total", logger: TestDatabase.logger).decode(String.self) {
                read.append(total)
            }
            #expect(read == [amount])
        }
    }
}
