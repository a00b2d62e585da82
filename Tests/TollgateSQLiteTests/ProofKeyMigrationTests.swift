import Foundation
import GRDB
import Testing
import TollgateCore
import TollgateStoreConformance
@testable import TollgateSQLite

/// `v15-proof-keys`: the rows of an earlier version are found by authorization, payer and nonce as before, and each
/// authorization still buys one claim and one ledger row, whatever spelling the earlier rows used.
@Suite struct ProofKeyMigrationTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-proof-keys-\(UUID().uuidString)")
    var path: String { directory.appendingPathComponent("tollgate.sqlite").path }

    static let mixedPayer = "0xAbC0000000000000000000000000000000000001"
    static let nonce = "0x" + String(repeating: "5e", count: 32)

    /// A v14 database: a settled flow whose ledger row kept the proof's mixed-case payer (as versions before the key was
    /// normalised wrote it) and whose evidence is lowercase; a claim in flight with its evidence, intent and prepared answer.
    func earlierDatabase() throws -> (settled: ProofKey, inFlight: ProofKey) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: path)
        try SQLiteStore.migrator.migrate(pool, upTo: "v14-settlement-intent-body")
        let settled = ProofKey(network: "eip155:84532", asset: StoreConformance.key(1).asset, payer: Self.mixedPayer, nonce: Self.nonce)
        let inFlight = StoreConformance.key(7)
        try pool.write { db in
            let payment = StoreConformance.payment(settled, "tg_settled")
            try db.execute(sql: """
                INSERT INTO payment (correlation_id, rail, network, asset, payer, payee, amount, nonce, tx, client_id, resource, unit,
                                     quantity, settled_at)
                VALUES ('tg_settled', ?, ?, ?, ?, ?, ?, ?, ?, 'alice', 'datasets', 'request', 1, 1)
                """, arguments: [payment.rail, payment.network, payment.asset, Self.mixedPayer, payment.payee, payment.amount,
                                 payment.nonce, payment.transaction])
            // Evidence of a third flow in a mixed-case spelling no version writes: a trace by payer matches evidence as written.
            let mixed = ProofKey(network: settled.network, asset: settled.asset, payer: settled.payer, nonce: "0x99")
            try db.execute(sql: """
                INSERT INTO proof_evidence (correlation_id, network, asset, payer, nonce, offer_token, payload, received_at)
                VALUES ('tg_mixed', ?, ?, ?, ?, 'offer', '{}', 1)
                """, arguments: [mixed.network, mixed.asset, Self.mixedPayer, mixed.nonce])
            for (key, flow) in [(settled, "tg_settled"), (inFlight, "tg_flight")] {
                try db.execute(sql: """
                    INSERT INTO proof_evidence (correlation_id, network, asset, payer, nonce, offer_token, payload, received_at)
                    VALUES (?, ?, ?, ?, ?, 'offer', '{}', 1)
                    """, arguments: [flow, key.network, key.asset, key.payer, key.nonce])
            }
            try db.execute(sql: """
                INSERT INTO reservation (network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state, updated_at)
                VALUES (?, ?, ?, ?, 'tg_flight', 'alice', 'datasets', 2000000000, 'settling', 1)
                """, arguments: [inFlight.network, inFlight.asset, inFlight.payer, inFlight.nonce])
            var intent = StoreConformance.intent(inFlight, "tg_flight")
            intent.response = nil
            try db.execute(sql: """
                INSERT INTO settlement_intent (network, asset, payer, nonce, correlation_id, created_at, updated_at)
                VALUES (?, ?, ?, ?, 'tg_flight', 1, 1)
                """, arguments: [inFlight.network, inFlight.asset, inFlight.payer, inFlight.nonce])
            try db.execute(sql: "INSERT INTO settlement_intent_body (intent_id, intent) VALUES (last_insert_rowid(), ?)",
                           arguments: [String(decoding: JSONWriter.bytes(intent), as: UTF8.self)])
            try db.execute(sql: """
                INSERT INTO paid_response (network, asset, payer, nonce, correlation_id, client_id, request, status, headers, body,
                                           expires_at, ready)
                VALUES (?, ?, ?, ?, 'tg_flight', 'alice', 'GET /datasets/a', 200, '[]', x'7b7d', 2000000000, 0)
                """, arguments: [inFlight.network, inFlight.asset, inFlight.payer, inFlight.nonce])
        }
        try pool.close()
        return (settled, inFlight)
    }

    @Test func rowsOfAnEarlierVersionKeepTheirAuthorizations() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (settled, inFlight) = try earlierDatabase()
        let store = try SQLiteStore(path: path)

        // Every row has its authorization's id; the ledger row's keeps the spelling it was written with.
        let (unkeyed, keys) = try await store.writer.read { db in
            (try Int.fetchOne(db, sql: """
                SELECT (SELECT COUNT(*) FROM payment WHERE proof_key_id IS NULL) + (SELECT COUNT(*) FROM proof_evidence WHERE proof_key_id IS NULL)
                """),
             try String.fetchAll(db, sql: "SELECT payer FROM proof_key ORDER BY id"))
        }
        #expect(unkeyed == 0)
        #expect(keys == [Self.mixedPayer, Self.mixedPayer, settled.payer, inFlight.payer])

        // The claim in flight is still the one claim of its authorization, its intent and withheld answer still its own.
        let again = try await store.reserve(StoreConformance.reservation(inFlight, "tg_again"), events: [])
        #expect(again == .alreadyClaimed(correlationId: "tg_flight", state: .settling))
        let open = try #require(try await store.openSettlement(inFlight))
        #expect(open.intent.correlationId == "tg_flight" && open.state == .settling)
        #expect(open.intent.response?.correlationId == "tg_flight")
        #expect(try await store.storedResponse(inFlight, now: 0) == nil)
        try await store.resolveSettlement(inFlight, outcome: .settled, delivered: true, events: [])
        #expect(try await store.storedResponse(inFlight, now: 0)?.correlationId == "tg_flight")

        // The earlier ledger row still stops a second one for the same authorization in the same spelling.
        var repeated = StoreConformance.payment(settled, "tg_settled_again")
        repeated.payer = Self.mixedPayer
        try await store.finish(settled, state: .settled, payment: repeated, events: [])
        #expect(try await store.payments(correlationId: "tg_settled_again").isEmpty)
        #expect(try await store.payments(correlationId: "tg_settled").count == 1)

        // Support finds both flows by payer (any case) and the settled one by nonce, from the ledger and the evidence.
        let byPayer = try await store.flows(matching: .payer(settled.payer), limit: 10)
        #expect(Set(byPayer.correlationIds) == ["tg_settled", "tg_flight"])
        #expect(byPayer.matchedAs["payer"] == ["payment", "proof_evidence"])
        let byNonce = try await store.flows(matching: .hash(Self.nonce), limit: 10)
        #expect(byNonce.correlationIds == ["tg_settled"])
        #expect(byNonce.matchedAs["nonce"] == ["payment", "proof_evidence"])
        // Spend by payer folds case as before: the mixed-case ledger row counts.
        #expect(try await store.spend(client: nil, payer: settled.payer).count == 1)
        #expect(try await store.spend(client: nil, payer: Self.mixedPayer).count == 1)
    }

    @Test func spendByClientAndPayerSearchesByPayer() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        let (sql, arguments) = SQLiteStore.spendQuery(client: "alice", payer: Self.mixedPayer)
        let plan = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)", arguments: arguments).map { $0["detail"] as String }.joined(separator: "; ")
        }
        #expect(plan.contains("proof_key_payer") && plan.contains("payment_proof_key") && !plan.contains("payment_client"), "\(plan)")
    }

    /// A database a later version migrated is refused by name, never written with this version's idea of its tables.
    @Test func aDatabaseOfALaterVersionIsRefused() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        try await store.writer.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-later')") }
        try store.writer.close()
        do {
            _ = try SQLiteStore(path: path)
            Issue.record("a database with an unknown migration opened")
        } catch let error as TollgateError {
            #expect(error.code == .storeUnavailable && error.message.contains("v99-later"), "\(error)")
        }
    }

    /// An authorization that claims nothing (its offer was claimed with another one) leaves no row behind: a client
    /// cannot grow the table by re-using one offer with fresh signatures.
    @Test func anAuthorizationThatClaimsNothingLeavesNoRow() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        #expect(try await store.reserve(StoreConformance.reservation(StoreConformance.key(1), "tg_offer"), events: []) == .reserved)
        for nonce in 2...4 {
            let reused = try await store.reserve(StoreConformance.reservation(StoreConformance.key(nonce), "tg_offer"), events: [])
            #expect(reused == .offerAlreadyUsed(state: .reserved))
        }
        let keys = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT nonce FROM proof_key") }
        #expect(keys == [StoreConformance.key(1).nonce])
        // Released, the authorization keeps its row (and its id): a later claim of it is its one claim again.
        try await store.release(StoreConformance.key(1), events: [])
        #expect(try await store.reserve(StoreConformance.reservation(StoreConformance.key(1), "tg_later"), events: []) == .reserved)
        #expect(try await store.reservationState(StoreConformance.key(1)) == .reserved)
        let rows = try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM proof_key") }
        #expect(rows == 1)
    }

    /// A write for an authorization never claimed (a late release, a finish or delivery without a claim) changes no other
    /// flow's rows and records nothing under it, unless it keeps something (an answer: then its authorization is recorded
    /// once); a released claim is not brought back by a late finish; the flow's own finish, made with its key looked up
    /// once, settles exactly its claim and intent.
    @Test func writesForAnUnclaimedAuthorizationTouchNothing() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        let claimed = StoreConformance.key(1), stranger = StoreConformance.key(2)
        #expect(try await store.reserve(StoreConformance.reservation(claimed, "tg_claimed"), events: []) == .reserved)
        try await store.recordSettlementIntent(StoreConformance.intent(claimed, "tg_claimed"), events: [])

        try await store.release(stranger, events: [StoreConformance.event("tg_stranger")])
        try await store.finish(stranger, state: .settled, payment: nil, response: nil, metering: nil, delivery: .next(), events: [])
        try await store.recordDelivery(stranger, response: nil, metering: nil, delivery: .next(), events: [])
        let keys = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT nonce FROM proof_key ORDER BY id") }
        #expect(keys == [claimed.nonce])
        #expect(try await store.reservationState(claimed) == .settling)
        #expect(try await store.openSettlement(claimed)?.outcome == .open)

        try await store.finish(claimed, state: .settled, payment: StoreConformance.payment(claimed, "tg_claimed"), response: nil,
                               metering: nil, delivery: .next(), events: [])
        #expect(try await store.reservationState(claimed) == .settled)
        let intent = try await store.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT outcome, delivered, tx FROM settlement_intent")
        }
        #expect(intent?["outcome"] as String? == "settled" && intent?["delivered"] as Int? == 1)
        #expect(intent?["tx"] as String? == StoreConformance.payment(claimed, "tg_claimed").transaction)
        #expect(try await store.payments(correlationId: "tg_claimed").count == 1)

        // An answer kept for an authorization never claimed records it, once, and nothing else under it.
        let answered = StoreConformance.key(3)
        let answer = StoredResponse(correlationId: "tg_answered", clientId: "alice", request: "GET /datasets/a", status: 200,
                                    headers: [], body: Array("{}".utf8), expiresAt: 2_000_000_000)
        try await store.recordDelivery(answered, response: answer, metering: nil, delivery: .next(), events: [])
        try await store.recordDelivery(answered, response: answer, metering: nil, delivery: .next(), events: [])
        let recorded = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT nonce FROM proof_key ORDER BY id") }
        #expect(recorded == [claimed.nonce, answered.nonce])
        #expect(try await store.storedResponse(answered, now: 0)?.correlationId == "tg_answered")
        #expect(try await store.reservationState(answered) == nil)

        // Claimed, released, then a late finish: the claim stays released, nothing is settled under it.
        let released = StoreConformance.key(4)
        #expect(try await store.reserve(StoreConformance.reservation(released, "tg_released"), events: []) == .reserved)
        try await store.release(released, events: [])
        try await store.finish(released, state: .settled, payment: nil, response: nil, metering: nil, delivery: .next(), events: [])
        #expect(try await store.reservationState(released) == nil)
        #expect(try await store.openSettlement(released) == nil)
    }
}
