import Foundation
import GRDB
import Testing
import TollgateCore
import TollgateStoreConformance
@testable import TollgateSQLite

/// A database written by an earlier version opens in this one with nothing paid lost: the move of kept answers and
/// settlement intents to rowid tables (`v10-append-order`) keeps every row, and each authorization still has one row.
@Suite struct SQLiteMigrationTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-migration-\(UUID().uuidString)")
    var path: String { directory.appendingPathComponent("tollgate.sqlite").path }

    /// A database at `v9-settlement-intent` (keyed tables) holding one delivered answer and one settlement in flight
    /// with its prepared answer, written with the SQL of that version.
    func earlierDatabase() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: path)
        try SQLiteStore.migrator.migrate(pool, upTo: "v9-settlement-intent")
        let delivered = StoreConformance.key(1), settling = StoreConformance.key(2)
        var intent = StoreConformance.intent(settling, "tg_settling")
        intent.response = nil
        try pool.write { db in
            try SQLiteStore.storeResponse(Self.answer("tg_delivered"), key: delivered, ready: true, db)
            try SQLiteStore.storeResponse(Self.answer("tg_settling"), key: settling, ready: false, db)
            try db.execute(sql: """
                INSERT INTO reservation (network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state, updated_at)
                VALUES (?, ?, ?, ?, 'tg_settling', 'alice', 'datasets', 2000000000, 'settling', 1)
                """, arguments: [settling.network, settling.asset, settling.payer, settling.nonce])
            try db.execute(sql: """
                INSERT INTO settlement_intent (network, asset, payer, nonce, correlation_id, intent, created_at, updated_at)
                VALUES (?, ?, ?, ?, 'tg_settling', ?, 1, 1)
                """, arguments: [settling.network, settling.asset, settling.payer, settling.nonce,
                                 String(decoding: JSONWriter.bytes(intent), as: UTF8.self)])
        }
        let layout = try pool.read { db in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'paid_response'") }
        #expect(layout?.contains("WITHOUT ROWID") == true)
    }

    static func answer(_ correlationId: String) -> StoredResponse {
        StoredResponse(correlationId: correlationId, clientId: "alice", request: "GET /datasets/a", status: 200,
                       headers: [["content-type", "application/json"]], body: Array(String(repeating: "x", count: 3000).utf8),
                       expiresAt: 2_000_000_000)
    }

    @Test func answersAndIntentsOfAnEarlierVersionAreKeptAndStaySingle() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try earlierDatabase()
        let store = try SQLiteStore(path: path)
        let delivered = StoreConformance.key(1), settling = StoreConformance.key(2)

        // Every row moved, readable as before: the delivered answer, the intent, the prepared answer still withheld.
        #expect(try await store.storedResponse(delivered, now: 0)?.body == Self.answer("x").body)
        let open = try #require(try await store.openSettlement(settling))
        #expect(open.intent.correlationId == "tg_settling")
        #expect(open.intent.response?.correlationId == "tg_settling")
        #expect(try await store.storedResponse(settling, now: 0) == nil)

        // One authorization, one row: the same intent recorded again and the answer resolved update the moved rows.
        try await store.recordSettlementIntent(StoreConformance.intent(settling, "tg_settling", response: Self.answer("tg_settling")), events: [])
        try await store.resolveSettlement(settling, outcome: .settled, delivered: true, events: [])
        #expect(try await store.storedResponse(settling, now: 0)?.correlationId == "tg_settling")
        let (answers, intents, layout, indexes) = try await store.writer.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paid_response"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM settlement_intent"),
             try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'paid_response'"),
             Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('paid_response', 'settlement_intent')")))
        }
        // The key indexes, and the indexes retention and the reconciler read by, are all there.
        #expect(indexes.isSuperset(of: ["paid_response_key", "paid_response_expiry", "settlement_intent_key", "settlement_intent_outcome"]))
        #expect(answers == 2)
        #expect(intents == 1)
        #expect(layout?.contains("WITHOUT ROWID") == false)
        // The key is still unique in the new layout: a second row for the same authorization is refused by the database
        // itself, whatever code writes it.
        await #expect(throws: DatabaseError.self) {
            try await store.writer.write { db in
                try db.execute(sql: """
                    INSERT INTO settlement_intent (network, asset, payer, nonce, correlation_id, intent, created_at, updated_at)
                    VALUES (?, ?, ?, ?, 'tg_other', '{}', 2, 2)
                    """, arguments: [settling.network, settling.asset, settling.payer, settling.nonce])
            }
        }
        await #expect(throws: DatabaseError.self) {
            try await store.writer.write { db in
                try db.execute(sql: """
                    INSERT INTO paid_response (network, asset, payer, nonce, correlation_id, client_id, request, status, headers, body, expires_at)
                    VALUES (?, ?, ?, ?, 'tg_other', 'mallory', 'GET /datasets/a', 200, '[]', x'00', 2000000000)
                    """, arguments: [delivered.network, delivered.asset, delivered.payer, delivered.nonce])
            }
        }
        #expect(try await store.storedResponse(delivered, now: 0)?.clientId == "alice")
    }
}
