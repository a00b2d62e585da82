import Foundation
import Logging
import GRDB
import Testing
import TollgateCore
@testable import TollgateSQLite

/// The audit chain keyed with a key the database does not hold: someone with write access to the file can
/// neither forge a link, nor move, drop or truncate events unseen once the head was published.
@Suite struct KeyedAuditChainTests {
    static func filled(_ count: Int) async throws -> TemporaryDatabase {
        let database = try TemporaryDatabase(auditKeys: TemporaryDatabase.auditKeys)
        try await database.store.append((1...count).map { TemporaryDatabase.event("tg_\($0)", .offer, at: Int64($0)) })
        return database
    }

    static func execute(_ store: SQLiteStore, _ sql: String, _ arguments: StatementArguments = []) async throws {
        try await store.writer.write { db in try db.execute(sql: sql, arguments: arguments) }
    }

    @Test func eachLinkIsKeyedAndCoversItsSeq() async throws {
        let database = try await Self.filled(3)
        defer { database.remove() }
        let recorded = try await database.store.events(correlationId: "tg_2")
        let entry = try #require(recorded.first)
        #expect(entry.hash.hasPrefix("v2:k1:"))
        #expect(entry.hash == AuditChain.keyedHash(previous: entry.previousHash, seq: entry.seq, event: entry.event,
                                                   key: TemporaryDatabase.auditKeys.current))
        #expect(try await database.store.verifyAuditLog().isIntact)
    }

    /// One write's events go in by the `INSERT` of up to `auditRowsPerInsert` rows: a write of more is split, and the
    /// chain, the seqs and each row's values and lookup columns are those of the events in their order.
    @Test func aWriteOfManyEventsIsOneChainAcrossItsInserts() async throws {
        let database = try TemporaryDatabase(auditKeys: TemporaryDatabase.auditKeys)
        defer { database.remove() }
        let count = 2 * SQLiteStore.auditRowsPerInsert + 3
        var events = (1...count).map { TemporaryDatabase.event("tg_\($0 % 4)", .offer, at: Int64($0)) }
        events[count - 2].details["payer"] = "0xAbC"
        events[SQLiteStore.auditRowsPerInsert].details["transaction"] = "0xTX"
        try await database.store.append(Array(events.prefix(2)))
        try await database.store.append(Array(events.dropFirst(2)))
        let rows = try await database.store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, time_ms, details, prev_hash, hash, payer, tx FROM audit_event ORDER BY seq")
        }
        #expect(rows.map { $0["seq"] as Int64 } == Array(1...Int64(count)))
        #expect(rows.map { $0["time_ms"] as Int64 } == Array(1...Int64(count)))
        #expect(zip(rows.dropFirst(), rows).allSatisfy { $0["prev_hash"] as String == $1["hash"] as String })
        #expect(rows.compactMap { $0["payer"] as String? } == ["0xabc"] && rows[count - 2]["payer"] as String? == "0xabc")
        #expect(rows.compactMap { $0["tx"] as String? } == ["0xtx"] && rows[SQLiteStore.auditRowsPerInsert]["tx"] as String? == "0xtx")
        #expect(try await database.store.events(correlationId: "tg_1").map(\.event) == events.filter { $0.correlationId == "tg_1" })
        #expect(try await database.store.verifyAuditLog().isIntact)
        #expect(try await database.store.auditHead()?.seq == Int64(count))
    }

    @Test func aRowRewrittenWithoutTheKeyIsFound() async throws {
        let database = try await Self.filled(5)
        defer { database.remove() }
        // The attacker edits event 3 and recomputes an unkeyed hash for it and every later link.
        try await Self.execute(database.store, "UPDATE audit_event SET details = '{\"n\":\"999\"}' WHERE seq = 3")
        let rows = try await database.store.writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM audit_event ORDER BY seq") }
        var previous = rows[1]["hash"] as String
        for row in rows[2...] {
            let event = SQLiteStore.recorded(row).event
            let forged = AuditChain.hash(previous: previous, event: event)
            try await Self.execute(database.store, "UPDATE audit_event SET prev_hash = ?, hash = ? WHERE seq = ?", [previous, forged, row["seq"] as Int64])
            previous = forged
        }
        let report = try await database.store.verifyAuditLog()
        #expect(!report.isIntact)
        #expect(report.findings.contains { $0.seq == 3 })
    }

    @Test func aKeyedLogCannotBeCheckedWithoutItsKey() async throws {
        let database = try await Self.filled(2)
        defer { database.remove() }
        let unkeyed = try SQLiteStore(path: database.path)
        #expect(!(try await unkeyed.verifyAuditLog().isIntact))
    }

    @Test func aTruncatedTailIsFoundAgainstThePublishedHead() async throws {
        let database = try await Self.filled(6)
        defer { database.remove() }
        let head = try #require(try await database.store.auditHead())
        #expect(head.seq == 6)
        #expect(try await database.store.holds(head) == true)

        // Drop the last two events and hide it from the sequence table too.
        try await Self.execute(database.store, "DELETE FROM audit_event WHERE seq > 4")
        try await Self.execute(database.store, "UPDATE sqlite_sequence SET seq = 4 WHERE name = 'audit_event'")
        #expect(try await database.store.verifyAuditLog().isIntact)   // the chain that is left is consistent…
        #expect(try await database.store.holds(head) == false)        // …but it no longer reaches the published head
    }

    @Test func aRewrittenHeadIsFound() async throws {
        let database = try await Self.filled(3)
        defer { database.remove() }
        let head = try #require(try await database.store.auditHead())
        try await Self.execute(database.store, "UPDATE audit_event SET hash = 'v2:k1:00' WHERE seq = 3")
        #expect(try await database.store.holds(head) == false)
    }

    @Test func theHeadIsAppendedToItsFile() async throws {
        let database = try await Self.filled(2)
        defer { database.remove() }
        let file = database.directory.appendingPathComponent("heads.jsonl").path
        let publisher = AuditHeadPublisher(store: database.store, file: file, logger: .init(label: "test"))
        let head = try #require(try await database.store.auditHead())
        try publisher.publish(head)
        try await database.store.append([TemporaryDatabase.event("tg_3", .offer, at: 3)])
        try publisher.publish(try #require(try await database.store.auditHead()))
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].contains("\"seq\":2") && lines[0].contains(head.hash))
        #expect(AuditHead("\(head.seq):\(head.hash)") == head)
    }
}

/// The settlement ledger: intents recorded before `/settle`, resolved once.
@Suite struct SettlementLedgerTests {
    static func intent(_ key: ProofKey, correlationId: String) -> SettlementIntent {
        SettlementIntent(key: key, correlationId: correlationId, attempt: SettlementAttempt(authority: "http://f", request: Array("{}".utf8)),
                         payment: TemporaryDatabase.payment(key, correlationId: correlationId), metering: nil,
                         response: StoredResponse(correlationId: correlationId, clientId: "alice", request: "GET /a", status: 200, headers: [],
                                                  body: Array("prepared".utf8), expiresAt: 4_000_000_000),
                         redeliverable: true, validBefore: 2_000_000_000, createdAtMillis: 1)
    }

    @Test func aPreparedAnswerIsOutOfReachUntilSettledAndTheClaimIsSettling() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let key = TemporaryDatabase.key()
        _ = try await database.store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_a"), events: [])
        try await database.store.recordSettlementIntent(Self.intent(key, correlationId: "tg_a"), events: [])

        #expect(try await database.store.reservationState(key) == .settling)
        #expect(try await database.store.storedResponse(key, now: 0) == nil)
        let open = try #require(try await database.store.openSettlement(key))
        #expect(open.outcome == .open)
        #expect(open.intent.response?.body == Array("prepared".utf8))

        let abandoned = try await database.store.abandonSettling { _ in [] }
        #expect(abandoned.map(\.intent.correlationId) == ["tg_a"])
        #expect(try await database.store.reservationState(key) == .unknown)
    }

    @Test func aSettlementRecordedTwiceIsOnePaymentAndKeepsItsTransaction() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let key = TemporaryDatabase.key()
        _ = try await database.store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_a"), events: [])
        try await database.store.recordSettlementIntent(Self.intent(key, correlationId: "tg_a"), events: [])
        let payment = TemporaryDatabase.payment(key, correlationId: "tg_a")
        try await database.store.finish(key, state: .settled, payment: payment, response: nil, metering: nil, delivery: .next(), events: [])
        var again = payment
        again.transaction = ""
        try await database.store.finish(key, state: .settled, payment: again, response: nil, metering: nil, delivery: nil, events: [])

        #expect(try await database.store.payments(correlationId: "tg_a").map(\.transaction) == ["0xtx1"])
        let open = try #require(try await database.store.openSettlement(key))
        #expect(open.transaction == "0xtx1")
        #expect(open.delivered)
        #expect(try await database.store.unresolvedSettlements(limit: 10).isEmpty)
    }

    @Test func releasingAClaimThatWasNeverSentForgetsItsIntent() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let key = TemporaryDatabase.key()
        _ = try await database.store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_a"), events: [])
        try await database.store.recordSettlementIntent(Self.intent(key, correlationId: "tg_a"), events: [])
        try await database.store.release(key, events: [])
        #expect(try await database.store.reservationState(key) == nil)
        #expect(try await database.store.openSettlement(key) == nil)
    }
}
