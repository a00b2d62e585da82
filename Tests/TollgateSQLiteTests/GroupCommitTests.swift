import Foundation
import GRDB
import Synchronization
import Testing
import TollgateCore
@testable import TollgateSQLite

/// Holds a test's write on the writer thread until opened.
private final class WriterGate: Sendable {
    let open = Atomic(false)
}

/// Durable writes share their syncs: concurrent writes commit together, each answered after its commit.
@Suite struct GroupCommitTests {
    @Test func concurrentReservationsShareCommitsAndAllSucceed() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let clock = ContinuousClock()
        let start = clock.now
        // The writer held by one write until all 64 reservations wait behind it: they then commit together, however fast
        // the writer and however the tasks are scheduled.
        let outcomes = try await Self.behindHeldWriter(store, waiting: 64) {
            await withTaskGroup(of: ReservationOutcome?.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        let key = TemporaryDatabase.key(nonce: "0x\(String(index, radix: 16))")
                        return try? await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_\(index)"), events: [])
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(outcomes.count == 64 && outcomes.allSatisfy { $0 == .reserved })
        let committed = store.committer.statistics
        #expect(committed.writes == 65)
        #expect(committed.commits < 65)
        // What the metrics and `/admin/status` read (counted before the writes were answered): every write started in a
        // batch, the batches took time, and the writes that arrived while one committed waited for it; in seconds, no
        // more than the test lasted (one writer busy; 64 writes waiting).
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let statistics = try #require(store.health().commits)
        #expect(statistics.started == 65 && statistics.failedBatches == 0)
        #expect(statistics.busySeconds > 0 && statistics.busySeconds <= seconds)
        #expect(statistics.waitSeconds > 0 && statistics.waitSeconds <= 65 * seconds)
        // Every claim is there, and each one once.
        let count = try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM reservation") }
        #expect(count == 64)
    }

    /// Runs `work` (which sends `waiting` writes) while one write holds the store's writer, and lets the writer go once
    /// all of them wait: they are then taken in one batch, whatever the scheduling. The holding write counts as one.
    static func behindHeldWriter<T: Sendable>(_ store: SQLiteStore, waiting: Int, _ work: @escaping @Sendable () async -> T) async throws -> T {
        let gate = WriterGate()
        let started = store.committer.statistics.started
        let holder = Task { try await store.write { _ in while !gate.open.load(ordering: .acquiring) { usleep(1_000) } } }
        // Opened whatever happens, so a wait that failed leaves no writer spinning for the rest of the run.
        defer { gate.open.store(true, ordering: .releasing) }
        try await waitUntil { store.committer.statistics.started > started }
        let sent = Task { await work() }
        try await waitUntil { store.committer.waiting == waiting }
        gate.open.store(true, ordering: .releasing)
        try await holder.value
        return await sent.value
    }

    /// Polls `condition` until it holds, for at most 30 s.
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "the condition did not hold within 30 s")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func oneFailingWriteDoesNotTakeItsBatchWithIt() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        struct Refused: Error {}
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<32 {
                group.addTask {
                    do {
                        try await store.write { db in
                            try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES (?, 'b', '1')", arguments: ["s\(index)"])
                            if index % 4 == 0 { throw Refused() }
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 24)
        let rows = try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spend_total") }
        #expect(rows == 24)
    }

    /// A batch runs its writes without savepoints; one failing write makes the batch run again, each write in its own
    /// savepoint. Whoever shares a batch (here one batch, the writer held until all wait) with failing writes: every
    /// write that succeeded left its rows once (the first run was rolled back whole), every failed one none, and no write
    /// ran more than twice. Writes that all succeed run once.
    @Test func aFailedWriteMakesItsBatchRunAgainOnceAndNothingTwice() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await store.writer.writeWithoutTransaction { db in try db.execute(sql: "CREATE TABLE log (subject TEXT NOT NULL)") }
        final class Runs: Sendable { let counts = Mutex<[String: Int]>([:]) }
        let runs = Runs()
        struct Refused: Error {}
        @Sendable func send(_ subjects: [String], failing: @escaping @Sendable (String) -> Bool) async -> [String: Bool] {
            await withTaskGroup(of: (String, Bool).self) { group in
                for subject in subjects {
                    group.addTask {
                        do {
                            try await store.write { db in
                                runs.counts.withLock { $0[subject, default: 0] += 1 }
                                try db.execute(sql: "INSERT INTO log (subject) VALUES (?)", arguments: [subject])
                                if failing(subject) { throw Refused() }
                                try db.execute(sql: "INSERT INTO log (subject) VALUES (?)", arguments: [subject + "+"])
                            }
                            return (subject, true)
                        } catch {
                            return (subject, false)
                        }
                    }
                }
                return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
            }
        }
        let mixed = (0..<48).map { "m\($0)" }
        let answers = try await Self.behindHeldWriter(store, waiting: 48) { await send(mixed) { subject in Int(subject.dropFirst())! % 6 == 0 } }
        let logged = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT subject FROM log") }
        let succeeded = answers.filter(\.value).keys.sorted()
        #expect(succeeded.count == 40)
        #expect(logged.sorted() == (succeeded + succeeded.map { $0 + "+" }).sorted())
        // One batch: the writes up to the first failing one ran twice, the others once (in the second run only).
        #expect(runs.counts.withLock { counts in mixed.allSatisfy { (1...2).contains(counts[$0] ?? 0) } })
        #expect(runs.counts.withLock { counts in mixed.contains { counts[$0] == 2 } && mixed.contains { counts[$0] == 1 } })
        let clean = (0..<48).map { "c\($0)" }
        let cleanAnswers = try await Self.behindHeldWriter(store, waiting: 48) { await send(clean) { _ in false } }
        #expect(cleanAnswers.values.allSatisfy { $0 })
        #expect(runs.counts.withLock { counts in clean.allSatisfy { counts[$0] == 1 } })
    }

    /// A write that makes SQLite end the whole transaction (a full disk) takes its batch down with it: no write of that
    /// batch may then commit on its own while its caller is told it failed. Whatever the batching, every write answered
    /// with an error left no row, and every write answered with success left its row.
    @Test func aWriteThatEndsItsBatchsTransactionLeavesNoWriteCommittedAndRefused() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let (answers, rows) = try await Self.onANearlyFullDisk(database.store, writes: 32, heldUntilAllWait: false) { index, db in
            // The eighth write needs more pages than the file may grow by.
            let total = index == 7 ? String(repeating: "x", count: 64 * 1024) : "1"
            try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES (?, 'b', ?)", arguments: ["s\(index)", total])
        }
        #expect(answers["s7"] == false)
        #expect(rows == Set(answers.filter(\.value).keys))
        // The store still writes.
        try await database.store.write { db in try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('after', 'b', '1')") }
    }

    /// Sends `writes` writes (`s0`, `s1`, …), each running `body`, while the database file may grow by two pages only
    /// (SQLite ends the whole transaction of a write that needs more); `heldUntilAllWait`: as one batch. Whether each
    /// write was answered as committed, and the subjects on file after.
    static func onANearlyFullDisk(_ store: SQLiteStore, writes: Int, heldUntilAllWait: Bool,
                                  _ body: @escaping @Sendable (Int, Database) throws -> Void) async throws -> (answers: [String: Bool], rows: Set<String>) {
        let pages = try await store.write { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        try await store.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = \(pages + 2)") }
        let send: @Sendable () async -> [String: Bool] = {
            await withTaskGroup(of: (String, Bool).self) { group in
                for index in 0..<writes {
                    group.addTask {
                        do {
                            try await store.write { db in try body(index, db) }
                            return ("s\(index)", true)
                        } catch {
                            return ("s\(index)", false)
                        }
                    }
                }
                return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
            }
        }
        let answers = heldUntilAllWait ? try await behindHeldWriter(store, waiting: writes, send) : await send()
        try await store.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        return (answers, Set(try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT subject FROM spend_total") }))
    }

    /// A write that swallows the error with which SQLite ended the batch's transaction (a full disk) and returns: no
    /// write after it in the batch runs outside the transaction, where each statement would commit on its own while its
    /// caller is told the batch failed. One batch (the writer held until all wait): every write answered with an error
    /// left no row, every write answered with success left its row.
    @Test func aWriteThatSwallowsTheEndOfItsTransactionLetsNoLaterWriteCommitAlone() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let (answers, rows) = try await Self.onANearlyFullDisk(database.store, writes: 16, heldUntilAllWait: true) { index, db in
            guard index != 5 else {
                try? db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('large', 'b', ?)",
                                arguments: [String(repeating: "x", count: 64 * 1024)])
                return
            }
            try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES (?, 'b', '1')", arguments: ["s\(index)"])
        }
        #expect(answers.count == 16)
        #expect(rows == Set(answers.filter(\.value).keys))
        #expect(answers["s15"] == false, "a write after the end of the transaction was answered as committed")
        try await database.store.write { db in try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('after', 'b', '1')") }
    }

    /// A commit SQLite refuses with the transaction still open (a deferred foreign key) is rolled back, answered with its
    /// error and counted as a batch that did not commit; the next write commits.
    @Test func aRefusedCommitIsRolledBackAndAnsweredWithItsError() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await store.writer.writeWithoutTransaction { db in
            try db.execute(sql: """
                CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
                """)
        }
        let before = try #require(store.health().commits)
        let refused = await #expect(throws: DatabaseError.self) {
            try await store.write { db in try db.execute(sql: "INSERT INTO child (id, parent) VALUES (1, 42)") }
        }
        #expect(refused?.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY)
        try await store.write { db in
            try db.execute(sql: "INSERT INTO parent (id) VALUES (7); INSERT INTO child (id, parent) VALUES (2, 7)")
        }
        let children = try await store.writer.read { db in try Int.fetchAll(db, sql: "SELECT id FROM child") }
        #expect(children == [2])
        let after = try #require(store.health().commits)
        #expect(after.failedBatches == before.failedBatches + 1 && after.commits == before.commits + 1)
    }

    /// Writes one at a time each have a batch, and so a transaction, of their own, with no savepoint: a write that
    /// failed after writing, by its own error or by SQLite's, leaves nothing, is answered with its own error, and the
    /// next write finds no transaction left open.
    @Test func aWriteAloneInItsBatchThatFailsLeavesNothing() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        struct Refused: Error {}
        let before = store.committer.statistics
        await #expect(throws: Refused.self) {
            try await store.write { db in
                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('thrown', 'b', '1')")
                throw Refused()
            }
        }
        try await store.write { db in try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('kept', 'b', '1')") }
        await #expect(throws: DatabaseError.self) {
            try await store.write { db in
                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('before the conflict', 'b', '1')")
                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('kept', 'b', '2')")
            }
        }
        // SQLite itself rolling the whole transaction back (the database full) in the middle of a write alone: the
        // write is answered with that error, and nothing of it stays.
        let pages = try await store.write { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        try await store.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = \(pages + 2)") }
        let full = await #expect(throws: DatabaseError.self) {
            try await store.write { db in
                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('before the disk filled', 'b', '1')")
                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES ('large', 'b', ?)",
                               arguments: [String(repeating: "x", count: 64 * 1024)])
            }
        }
        #expect(full?.resultCode == .SQLITE_FULL)
        try await store.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        let rows = try await store.write { db in
            try String.fetchAll(db, sql: "SELECT subject || ':' || total FROM spend_total ORDER BY subject")
        }
        #expect(rows == ["kept:1"])
        // Three transactions committed, each with its one write (the insert and two reads); the failed writes' were
        // rolled back.
        let committed = store.committer.statistics
        #expect(committed.commits - before.commits == 3 && committed.writes - before.writes == 3)
        // The three that failed alone are counted as batches that did not commit.
        #expect(store.health().commits?.failedBatches == 3)
    }

    /// A write that appended audit events and then failed takes its events with it, whatever shares its batch: the
    /// chain holds exactly the events of the writes that succeeded, linked without a gap, and a write's own nested
    /// savepoint (GRDB's) still rolls back alone inside the batch's savepoint.
    @Test func aFailedWriteLeavesNoLinkInTheAuditChain() async throws {
        let database = try TemporaryDatabase(auditKeys: TemporaryDatabase.auditKeys)
        defer { database.remove() }
        let store = database.store
        struct Refused: Error {}
        let kept = await withTaskGroup(of: String?.self) { group in
            for index in 0..<48 {
                group.addTask {
                    let flow = "tg_\(index)"
                    do {
                        try await store.write { db in
                            try SQLiteStore.append([TemporaryDatabase.event(flow, .reserve, at: Int64(index))], db, keys: TemporaryDatabase.auditKeys)
                            try? db.inSavepoint {
                                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES (?, 'nested', '1')", arguments: [flow])
                                return .rollback
                            }
                            if index % 3 == 0 { throw Refused() }
                        }
                        return flow
                    } catch {
                        return nil
                    }
                }
            }
            return await group.reduce(into: Set<String>()) { if let flow = $1 { $0.insert(flow) } }
        }
        #expect(kept.count == 32)
        #expect(store.committer.statistics.commits < 48)
        let recorded = try await store.writer.read { db in try String.fetchSet(db, sql: "SELECT correlation_id FROM audit_event") }
        #expect(recorded == kept)
        let report = try await store.verifyAuditLog(archives: nil)
        #expect(report.isIntact && report.events == 32)
        let nested = try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spend_total WHERE bucket = 'nested'") }
        #expect(nested == 0)
    }

    @Test func commitsAreSyncedInFull() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let mode = try await database.store.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(mode == 2)   // FULL
        // The writer's page cache: 32 MiB (negative: KiB), where the random-key index leaves of recent requests stay.
        let cache = try await database.store.write { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
        #expect(cache == -32768)
    }

    /// What `PRAGMA synchronous` is while a write runs: 2 is FULL (the commit is synced), 1 is NORMAL.
    static func syncMode(_ store: SQLiteStore, synced: Bool) async throws -> Int? {
        try await store.write(synced: synced) { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
    }

    @Test("a batch of writes that need no sync (reservations) commits unsynced; any synced write in a batch syncs it all; the next synced batch is FULL again")
    func onlyABatchOfUnsyncedWritesSkipsTheSync() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        #expect(try await Self.syncMode(store, synced: false) == 1)
        #expect(try await Self.syncMode(store, synced: true) == 2)
        #expect(try await Self.syncMode(store, synced: false) == 1)
        #expect(try await Self.syncMode(store, synced: false) == 1)
        #expect(try await Self.syncMode(store, synced: true) == 2)
        // Many at once: the batches that hold a synced write are synced, whatever else they hold.
        let modes = try await withThrowingTaskGroup(of: (Bool, Int?).self) { group in
            for index in 0..<64 {
                group.addTask { (index % 2 == 0, try await Self.syncMode(store, synced: index % 2 == 0)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(modes.filter { $0.0 }.allSatisfy { $0.1 == 2 })
        #expect(modes.allSatisfy { $0.1 == 1 || $0.1 == 2 })
        #expect(try await Self.syncMode(store, synced: true) == 2)
    }

    @Test("a store opened without durable commits never switches to FULL")
    func aNonDurableStoreStaysNormal() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("tollgate.sqlite").path, durable: false)
        #expect(try await Self.syncMode(store, synced: true) == 1)
        #expect(try await Self.syncMode(store, synced: false) == 1)
    }

    /// The reservation is committed unsynced (the intent's synced commit before `/settle` makes it durable): it still
    /// survives the process stopping right after, because its WAL frames were written before the commit returned.
    @Test("a claim committed without its own sync is committed all the same: after the store is closed and opened again the proof is still claimed")
    func anUnsyncedClaimSurvivesARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tollgate.sqlite").path
        let key = TemporaryDatabase.key(nonce: "0x77")
        do {
            let first = try SQLiteStore(path: path)
            #expect(try await first.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_first"), events: []) == .reserved)
        }
        let reopened = try SQLiteStore(path: path)
        let again = try await reopened.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_second"), events: [])
        #expect(again == .alreadyClaimed(correlationId: "tg_first", state: .reserved))
    }

    @Test("the audit head of a reservation committed without its own sync is read after the log is synced: it names the reservation's events")
    func theAuditHeadIncludesAnUnsyncedClaimOnceSynced() async throws {
        let database = try TemporaryDatabase(auditKeys: TemporaryDatabase.auditKeys)
        defer { database.remove() }
        let key = TemporaryDatabase.key(nonce: "0x78")
        let events = [TemporaryDatabase.event("tg_head", .reserve, at: 1_750_000_000_000)]
        #expect(try await database.store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_head"), events: events) == .reserved)
        let head = try #require(try await database.store.auditHead())
        let recorded = try await database.store.events(correlationId: "tg_head")
        #expect(head.seq == recorded.last?.seq)
        #expect(head.hash == recorded.last?.hash)
    }
}
