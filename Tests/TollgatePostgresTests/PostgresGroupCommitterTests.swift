import Foundation
import PostgresNIO
import Testing
import TollgateCore
import TollgateStoreConformance
@testable import TollgatePostgres

/// The group committer runs a batch's writes without savepoints: a write that fails must still fail alone, with
/// none of its statements kept and none of its neighbours lost.
@Suite("PostgreSQL group commit")
struct PostgresGroupCommitterTests {
    struct Refused: Error, Equatable { let value: Int }

    /// On a database whose default isolation is repeatable read, a write still runs read committed (it must see what the
    /// write lock's last holder committed), while a plain transaction there gets the database's default.
    @Test("a write runs read committed whatever the database's default")
    func aWriteRunsReadCommitted() async throws {
        let configuration = try await TestDatabase.create()
        defer { Task { try? await TestDatabase.drop(try TestDatabase.cluster(), name: configuration.database) } }
        let database = configuration.database
        try await TestDatabase.admin(configuration) { client in
            try await client.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(database) SET default_transaction_isolation = 'repeatable read'"),
                                   logger: TestDatabase.logger)
        }
        let client = try PostgresClients.make(configuration, logger: TestDatabase.logger)
        try await PostgresClients.withRunning(client) { client in
            let plain = try await client.withTransaction(logger: TestDatabase.logger) { connection in
                var level = ""
                for try await value in try await connection.query("SELECT current_setting('transaction_isolation')", logger: TestDatabase.logger)
                    .decode(String.self) { level = value }
                return level
            }
            #expect(plain == "repeatable read")
            let committer = PostgresGroupCommitter(client: client, logger: TestDatabase.logger, lockKey: 42, timeout: .seconds(30))
            let level = try await committer.write { tx in
                try await tx.value("SELECT current_setting('transaction_isolation')", as: String.self)
            }
            #expect(level == "read committed")
        }
    }

    @Test("a write that fails after writing fails alone: its rows are gone, every other write of its batch commits")
    func aFailingWriteFailsAlone() async throws {
        try await TestDatabase.withFresh { client, _ in
            try await client.query("CREATE TABLE written (value INT PRIMARY KEY)", logger: TestDatabase.logger)
            let committer = PostgresGroupCommitter(client: client, logger: TestDatabase.logger, lockKey: 42, timeout: .seconds(30))
            // Sixty writes at once (so they share transactions); every fifth inserts its row and then throws.
            let outcomes = await withTaskGroup(of: (Int, Result<Int, any Error>).self) { group in
                for value in 0..<60 {
                    group.addTask {
                        do {
                            let written = try await committer.write { tx in
                                try await tx.execute("INSERT INTO written (value) VALUES (\(value))")
                                if value.isMultiple(of: 5) { throw Refused(value: value) }
                                return value
                            }
                            return (value, .success(written))
                        } catch {
                            return (value, .failure(error))
                        }
                    }
                }
                return await group.reduce(into: [Int: Result<Int, any Error>]()) { $0[$1.0] = $1.1 }
            }
            for (value, outcome) in outcomes {
                switch outcome {
                case .success(let written):
                    #expect(!value.isMultiple(of: 5))
                    #expect(written == value)
                case .failure(let error):
                    #expect(error as? Refused == Refused(value: value), "write \(value) failed with \(error)")
                }
            }
            let kept = try await client.query("SELECT value FROM written ORDER BY value", logger: TestDatabase.logger)
                .collect().map { try $0.decode(Int.self) }
            #expect(kept == (0..<60).filter { !$0.isMultiple(of: 5) })
            // The writes were batched: fewer transactions committed than writes started. Every write that succeeded was
            // held by a committed transaction, and none twice (a failing write is counted only when a committed
            // transaction ran it in its savepoint; one failing alone is a batch that did not commit).
            let statistics = committer.statistics
            #expect(statistics.started == 60 && statistics.busySeconds > 0)
            #expect(statistics.commits < 60)
            #expect(statistics.writes >= 48 && statistics.writes <= 60)
        }
    }

    @Test("failing writes among appends and reads of the log leave one intact chain: no event of theirs, no gap, no fork")
    func aFailingWriteKeepsTheChain() async throws {
        var configuration = try await TestDatabase.create()
        // What is tested is the chain, not the time: the whole suite on two cores has held this store's commits past the
        // default 5 s, and every write then failed as unavailable.
        configuration.operationTimeoutSeconds = 30
        let store = try await PostgresStores.open(configuration, auditKeys: StoreConformance.auditKeys, logger: TestDatabase.logger)
        defer { store.close() }
        let failures = await withTaskGroup(of: Int.self) { group in
            for flow in 0..<40 {
                group.addTask {
                    guard flow.isMultiple(of: 4) else {
                        do {
                            if flow % 4 == 1 {
                                // Reads the log inside its write (the flow's identity), so the events before it are inserted first.
                                try await store.recordEvidenceExport(correlationId: "tg_chain\(flow - 1)", disputeId: nil,
                                                                     bundleSHA256: String(repeating: "0", count: 64), actor: "test",
                                                                     nowMillis: 1_800_000_000_000)
                            } else {
                                try await store.append([StoreConformance.event("tg_chain\(flow)")])
                            }
                        } catch {
                            Issue.record("write \(flow) failed with \(error)")
                        }
                        return 0
                    }
                    // Refused inside the write, after the store has read: an unknown refund.
                    do {
                        _ = try await store.closeRefund(id: "rf_unknown\(flow)", payoutTransaction: "0x" + String(repeating: "ab", count: 32),
                                                        actor: "test", nowMillis: 1_800_000_000_000)
                        Issue.record("an unknown refund was closed")
                    } catch let error as TollgateError where error.code == .unknownRefund {
                        return 1
                    } catch {
                        Issue.record("closeRefund failed with \(error)")
                    }
                    return 0
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 10)
        let report = try await store.verifyAuditLog(archives: nil)
        #expect(report.isIntact)
        #expect(report.events == 30)
        #expect(try await store.auditSequenceValue() == 30)
    }

    /// A statement the test prepares on a table that may not exist yet.
    struct Probe: PreparedWrite {
        static let text = PreparedText { p in "INSERT INTO probed (value) VALUES (\(p(.int8)))" }
        let value: Int

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(value)
            return bindings
        }
    }

    /// The server process behind the pool's one connection.
    static func backend(_ committer: PostgresGroupCommitter) async throws -> Int32 {
        try await committer.write { tx in try await tx.value("SELECT pg_backend_pid()", as: Int32.self) ?? 0 }
    }

    @Test("a statement that could not be prepared does not poison its connection: once the cause is gone, it runs")
    func aFailedPreparationRetiresItsConnection() async throws {
        // One connection, so every write gets the connection the failed preparation was made on unless it was retired.
        try await TestDatabase.withFresh(poolSize: 1, longHeld: 0) { client, _ in
            let committer = PostgresGroupCommitter(client: client, logger: TestDatabase.logger, lockKey: 42, timeout: .seconds(30))
            let first = try await Self.backend(committer)
            await #expect(throws: (any Error).self) {
                try await committer.write { tx in _ = try await tx.run(Probe(value: 1)) }
            }
            #expect(try await Self.backend(committer) != first)
            try await committer.write { tx in try await tx.execute("CREATE TABLE probed (value INT PRIMARY KEY)") }
            for value in 2...4 {
                try await committer.write { tx in _ = try await tx.run(Probe(value: value)) }
            }
            // A failure only running a statement raises (here a duplicate key) leaves the connection in service.
            let kept = try await Self.backend(committer)
            await #expect(throws: (any Error).self) {
                try await committer.write { tx in _ = try await tx.run(Probe(value: 2)) }
            }
            #expect(try await Self.backend(committer) == kept)
            let values = try await client.query("SELECT value FROM probed ORDER BY value", logger: TestDatabase.logger)
                .collect().map { try $0.decode(Int.self) }
            #expect(values == [2, 3, 4])
        }
    }

    @Test("a failed preparation in a batch fails its own write only: the rest of the batch commits on a fresh connection")
    func aFailedPreparationFailsItsWriteAlone() async throws {
        try await TestDatabase.withFresh(poolSize: 1, longHeld: 0) { client, _ in
            try await client.query("CREATE TABLE written (value INT PRIMARY KEY)", logger: TestDatabase.logger)
            let committer = PostgresGroupCommitter(client: client, logger: TestDatabase.logger, lockKey: 42, timeout: .seconds(30))
            // Twenty writes at once (so they share transactions); every fourth prepares a statement on a missing table.
            let failed = await withTaskGroup(of: Int?.self) { group in
                for value in 0..<20 {
                    group.addTask {
                        do {
                            try await committer.write { tx in
                                if value.isMultiple(of: 4) { _ = try await tx.run(Probe(value: value)) }
                                try await tx.execute("INSERT INTO written (value) VALUES (\(value))")
                            }
                            return nil
                        } catch {
                            return value
                        }
                    }
                }
                return await group.reduce(into: Set<Int>()) { if let value = $1 { $0.insert(value) } }
            }
            #expect(failed == Set((0..<20).filter { $0.isMultiple(of: 4) }))
            let kept = try await client.query("SELECT value FROM written ORDER BY value", logger: TestDatabase.logger)
                .collect().map { try $0.decode(Int.self) }
            #expect(kept == (0..<20).filter { !$0.isMultiple(of: 4) })
        }
    }
}
