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
            for (key, flow, ready) in [(delivered, "tg_delivered", 1), (settling, "tg_settling", 0)] {
                let answer = Self.answer(flow)
                try db.execute(sql: """
                    INSERT INTO paid_response (network, asset, payer, nonce, correlation_id, client_id, request, status, headers, body,
                                               expires_at, ready)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [key.network, key.asset, key.payer, key.nonce, answer.correlationId, answer.clientId, answer.request,
                                     answer.status, answer.headersJSON, Data(answer.body), answer.expiresAt, ready])
            }
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
        #expect(indexes.isSuperset(of: ["paid_response_proof_key", "paid_response_expiry", "settlement_intent_proof_key", "settlement_intent_outcome"]))
        #expect(answers == 2)
        #expect(intents == 1)
        #expect(layout?.contains("WITHOUT ROWID") == false)
        // The key is still unique in the new layout: a second row for the same authorization is refused by the database
        // itself, whatever code writes it.
        let refused1 = await #expect(throws: DatabaseError.self) {
            try await store.writer.write { db in
                try db.execute(sql: """
                    INSERT INTO settlement_intent (proof_key_id, network, asset, payer, nonce, correlation_id, created_at, updated_at)
                    VALUES ((SELECT id FROM proof_key WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?), ?, ?, ?, ?, 'tg_other', 2, 2)
                    """, arguments: [settling.network, settling.asset, settling.payer, settling.nonce,
                                     settling.network, settling.asset, settling.payer, settling.nonce])
            }
        }
        // Refused by the unique index on the authorization's id (not by a NULL id, which would pass for the wrong reason).
        #expect(refused1?.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE)
        let refused2 = await #expect(throws: DatabaseError.self) {
            try await store.writer.write { db in
                try db.execute(sql: """
                    INSERT INTO paid_response (proof_key_id, network, asset, payer, nonce, correlation_id, client_id, request, status, headers,
                                               body, expires_at)
                    VALUES ((SELECT id FROM proof_key WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?), ?, ?, ?, ?, 'tg_other',
                            'mallory', 'GET /datasets/a', 200, '[]', x'00', 2000000000)
                    """, arguments: [delivered.network, delivered.asset, delivered.payer, delivered.nonce,
                                     delivered.network, delivered.asset, delivered.payer, delivered.nonce])
            }
        }
        // Refused by the unique index on the authorization's id (not by a NULL id, which would pass for the wrong reason).
        #expect(refused2?.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE)
        #expect(try await store.storedResponse(delivered, now: 0)?.clientId == "alice")
    }

    /// Events written before the lookup columns (`v11-audit-lookup-columns`) are found by payer, nonce and transaction
    /// as before, events written after too, and the indexes hold only the events that name one.
    @Test func auditEventsOfAnEarlierVersionAreStillFoundByTheirKeys() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: path)
        try SQLiteStore.migrator.migrate(pool, upTo: "v10-append-order")
        let payer = "0x" + String(repeating: "Ab", count: 20), nonce = "0x" + String(repeating: "C1", count: 32)
        let transaction = "0x" + String(repeating: "dE", count: 32)
        let earlier = [
            AuditEvent(correlationId: "tg_old_proof", timeMillis: 1, stage: .proof, outcome: .received, details: ["payer": payer, "nonce": nonce]),
            AuditEvent(correlationId: "tg_old_settle", timeMillis: 2, stage: .settle, outcome: .ok, details: ["transaction": transaction]),
            AuditEvent(correlationId: "tg_old_offer", timeMillis: 3, stage: .offer, outcome: .issued, details: ["price": "0.01"]),
        ]
        try await pool.write { db in
            var previous = AuditChain.genesis
            for (index, event) in earlier.enumerated() {
                let hash = AuditChain.hash(previous: previous, event: event)
                try db.execute(sql: """
                    INSERT INTO audit_event (seq, correlation_id, time_ms, stage, outcome, reason, client_id, resource, details, prev_hash, hash)
                    VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?)
                    """, arguments: [index + 1, event.correlationId, event.timeMillis, event.stage.rawValue, event.outcome.rawValue,
                                     AuditEvent.detailsJSON(event.details), previous, hash])
                previous = hash
            }
        }
        try pool.close()

        let store = try SQLiteStore(path: path)
        try await store.append([AuditEvent(correlationId: "tg_new_proof", timeMillis: 4, stage: .proof, outcome: .received,
                                           details: ["payer": payer.uppercased().replacingOccurrences(of: "0X", with: "0x"), "nonce": "0xfeed"])])
        let byPayer = try await store.flows(matching: try TraceKey(parsing: payer), limit: 10)
        #expect(Set(byPayer.correlationIds) == ["tg_old_proof", "tg_new_proof"])
        #expect(byPayer.matchedAs == ["payer": ["audit_event"]])
        #expect(try await store.flows(matching: try TraceKey(parsing: nonce), limit: 10).correlationIds == ["tg_old_proof"])
        let byTransaction = try await store.flows(matching: try TraceKey(parsing: transaction.uppercased().replacingOccurrences(of: "0X", with: "0x")),
                                                  limit: 10)
        #expect(byTransaction.correlationIds == ["tg_old_settle"] && byTransaction.matchedAs == ["transaction": ["audit_event"]])

        // The chain continues across the migration, and the partial indexes hold the three events that name a key.
        let (events, indexed, definitions) = try await store.writer.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_event"),
             try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM audit_event INDEXED BY audit_event_payer WHERE payer IS NOT NULL) + "
                                     + "(SELECT COUNT(*) FROM audit_event INDEXED BY audit_event_transaction WHERE tx IS NOT NULL)"),
             try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE name LIKE 'audit_event_%' AND name != 'audit_event_correlation'"))
        }
        #expect(events == 4)
        #expect(indexed == 3)
        #expect(definitions.count == 3 && definitions.allSatisfy { $0.contains("IS NOT NULL") && !$0.contains("json_extract") }, "\(definitions)")
        let recorded = try await store.events(correlationId: "tg_new_proof")
        #expect(recorded.first?.seq == 4 && recorded.first?.previousHash == AuditChain.hash(previous: AuditChain.hash(previous: AuditChain.hash(
            previous: AuditChain.genesis, event: earlier[0]), event: earlier[1]), event: earlier[2]))
    }

    /// Claims of a version where `reservation` was keyed by the authorization (`v13-reservation-append-order` makes it a
    /// rowid table): every claim is kept with its state, a proof or an offer claimed before is still refused, a release
    /// still works, and the key is still unique in the database itself.
    @Test func claimsOfAnEarlierVersionAreKeptAndStaySingle() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: path)
        try SQLiteStore.migrator.migrate(pool, upTo: "v12-unused-payer-index")
        let states = ["tg_reserved": "reserved", "tg_settling": "settling", "tg_settled": "settled"]
        let keys = ["tg_reserved": StoreConformance.key(1), "tg_settling": StoreConformance.key(2), "tg_settled": StoreConformance.key(3)]
        try await pool.write { db in
            for (flow, state) in states {
                let key = keys[flow]!
                try db.execute(sql: """
                    INSERT INTO reservation (network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state, updated_at)
                    VALUES (?, ?, ?, ?, ?, 'alice', 'datasets', 2000000000, ?, 1)
                    """, arguments: [key.network, key.asset, key.payer, key.nonce, flow, state])
            }
        }
        let before = try await pool.read { db in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'reservation'") }
        #expect(before?.contains("WITHOUT ROWID") == true)
        try pool.close()

        let store = try SQLiteStore(path: path)
        for (flow, state) in states {
            let again = try await store.reserve(TemporaryDatabase.reservation(keys[flow]!, correlationId: "tg_again_\(flow)"), events: [])
            #expect(again == .alreadyClaimed(correlationId: flow, state: Reservation.State(rawValue: state)!))
        }
        // Another authorization for an offer already claimed is refused by the offer's unique index.
        let reused = try await store.reserve(TemporaryDatabase.reservation(StoreConformance.key(9), correlationId: "tg_settled"), events: [])
        #expect(reused == .offerAlreadyUsed(state: .settled))
        try await store.release(keys["tg_reserved"]!, events: [])
        #expect(try await store.reservationState(keys["tg_reserved"]!) == nil)
        #expect(try await store.reservationState(keys["tg_settling"]!) == .settling)
        #expect(try await store.reserve(TemporaryDatabase.reservation(keys["tg_reserved"]!, correlationId: "tg_later"), events: []) == .reserved)

        let (layout, indexes) = try await store.writer.read { db in
            (try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'reservation'"),
             Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reservation' AND sql IS NOT NULL")))
        }
        #expect(layout?.contains("WITHOUT ROWID") == false)
        #expect(indexes == ["reservation_proof_key", "reservation_valid_before", "reservation_offer"])
        let settled = keys["tg_settled"]!
        let refused3 = await #expect(throws: DatabaseError.self) {
            try await store.writer.write { db in
                try db.execute(sql: """
                    INSERT INTO reservation (proof_key_id, network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state,
                                             updated_at)
                    VALUES ((SELECT id FROM proof_key WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?), ?, ?, ?, ?, 'tg_other',
                            'mallory', 'datasets', 2000000000, 'reserved', 2)
                    """, arguments: [settled.network, settled.asset, settled.payer, settled.nonce,
                                     settled.network, settled.asset, settled.payer, settled.nonce])
            }
        }
        // Refused by the unique index on the authorization's id (not by a NULL id, which would pass for the wrong reason).
        #expect(refused3?.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE)
    }

    /// Intents of a version that kept the document in the intent's row (`v14-settlement-intent-body` moves it to a table
    /// of its own): each is read back whole, a later attempt replaces its document, and deleting an intent, by release or
    /// retention, deletes its document too.
    @Test func intentsOfAnEarlierVersionKeepTheirDocuments() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: path)
        try SQLiteStore.migrator.migrate(pool, upTo: "v13-reservation-append-order")
        let open = StoreConformance.key(4), settled = StoreConformance.key(5)
        try await pool.write { db in
            for (key, flow, outcome) in [(open, "tg_open", "open"), (settled, "tg_done", "settled")] {
                var intent = StoreConformance.intent(key, flow)
                intent.response = nil
                try db.execute(sql: """
                    INSERT INTO reservation (network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state, updated_at)
                    VALUES (?, ?, ?, ?, ?, 'alice', 'datasets', 2000000000, 'settling', 1)
                    """, arguments: [key.network, key.asset, key.payer, key.nonce, flow])
                try db.execute(sql: """
                    INSERT INTO settlement_intent (network, asset, payer, nonce, correlation_id, intent, outcome, delivered, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1, 1)
                    """, arguments: [key.network, key.asset, key.payer, key.nonce, flow, String(decoding: JSONWriter.bytes(intent), as: UTF8.self),
                                     outcome])
            }
        }
        try pool.close()

        let store = try SQLiteStore(path: path)
        let read = try #require(try await store.openSettlement(open))
        #expect(read.intent.correlationId == "tg_open" && read.intent.key == open && read.outcome == .open)
        #expect(read.intent.attempt == StoreConformance.intent(open, "tg_open").attempt)
        let documents = { try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM settlement_intent_body") } }
        #expect(try await documents() == 2)
        // A later attempt replaces the document; the intent keeps its row.
        var later = StoreConformance.intent(open, "tg_open")
        later.attempt = SettlementAttempt(authority: "https://other.example/facilitator", request: Array("{\"later\":true}".utf8))
        try await store.recordSettlementIntent(later, events: [])
        #expect(try await store.openSettlement(open)?.intent.attempt.authority == "https://other.example/facilitator")
        #expect(try await documents() == 2)
        // Released (no /settle sent) and purged by retention: each intent takes its document with it.
        try await store.release(open, events: [])
        #expect(try await store.openSettlement(open) == nil)
        #expect(try await documents() == 1)
        _ = try await store.purgeReservations(expiredBefore: 4_000_000_000)
        #expect(try await store.openSettlement(settled) == nil)
        #expect(try await documents() == 0)
        let columns = try await store.writer.read { db in try db.columns(in: "settlement_intent").map(\.name) }
        #expect(!columns.contains("intent"))
    }

    @Test("the ledger indexes its authorization by id: the once-per-authorization check and payer lookups go through proof_key")
    func paymentsAreIndexedForTheirLookupsOnly() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        let plan = { (sql: String) in
            try await store.writer.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)").map { $0["detail"] as String }.joined(separator: "; ")
            }
        }
        let indexes = try await store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payment' AND sql IS NOT NULL ORDER BY name")
        }
        #expect(indexes == ["payment_client", "payment_correlation", "payment_proof_key", "payment_tx_lower"])
        let once = try await plan("SELECT 1 FROM payment WHERE \(SQLiteStore.byProofKey.replacingOccurrences(of: "?", with: "'x'"))")
        #expect(once.contains("payment_proof_key") && once.contains("proof_key_value"), "\(once)")
        let byPayer = try await plan("SELECT 1 FROM payment WHERE proof_key_id IN (SELECT id FROM proof_key WHERE lower(payer) = 'p')")
        #expect(byPayer.contains("proof_key_payer") && !byPayer.contains("SCAN payment"), "\(byPayer)")
    }
}
