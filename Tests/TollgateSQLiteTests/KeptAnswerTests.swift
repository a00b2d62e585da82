import Foundation
import GRDB
import Testing
import TollgateCore
import TollgateStoreConformance
@testable import TollgateSQLite

/// An answer kept for retries is prepared with the settlement intent and released with its receipt: the release keeps
/// the body where it is (a large answer is not written again), and never serves one answer's headers with another.
@Suite struct KeptAnswerTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-kept-answers-\(UUID().uuidString)")
    var path: String { directory.appendingPathComponent("tollgate.sqlite").path }

    static let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    static func answer(_ flow: String, body: [UInt8] = Self.body, headers: [[String]] = [["content-type", "application/json"]],
                       expiresAt: Int64 = 2_000_000_000) -> StoredResponse {
        StoredResponse(correlationId: flow, clientId: "alice", request: "GET /datasets/a", status: 200, headers: headers, body: body,
                       expiresAt: expiresAt)
    }

    static let receipt = [["content-type", "application/json"], ["payment-response", "eyJzdWNjZXNzIjp0cnVlfQ=="], ["cache-control", "private"]]

    /// A claim with its settlement intent and the answer prepared with it (`ready = 0`).
    func prepare(_ store: SQLiteStore, _ key: ProofKey, _ flow: String, _ answer: StoredResponse) async throws {
        #expect(try await store.reserve(StoreConformance.reservation(key, flow), events: []) == .reserved)
        try await store.recordSettlementIntent(StoreConformance.intent(key, flow, response: answer), events: [])
    }

    /// Frames the WAL holds: after a truncating checkpoint, what the writes since wrote.
    func walFrames(_ store: SQLiteStore, truncate: Bool = false) async throws -> Int {
        try await store.writer.writeWithoutTransaction { db in
            let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(\(truncate ? "TRUNCATE" : "PASSIVE"))")
            return row?[1] as Int? ?? -1
        }
    }

    @Test func releasingThePreparedAnswerKeepsItsBodyAndServesTheReceipt() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        let key = StoreConformance.key(1)
        try await prepare(store, key, "tg_a", Self.answer("tg_a", expiresAt: 1_999_999_990))
        #expect(try await store.storedResponse(key, now: 0) == nil, "prepared, not released")

        _ = try await walFrames(store, truncate: true)
        try await store.finish(key, state: .settled, payment: StoreConformance.payment(key, "tg_a"),
                               response: Self.answer("tg_a", headers: Self.receipt), metering: nil, delivery: .next(), events: [])
        // The body spans about 50 pages; the release rewrote none of them (a rewrite wrote about 100).
        let frames = try await walFrames(store)
        #expect(frames >= 1 && frames < 25, "the release wrote \(frames) pages")

        let kept = try #require(try await store.storedResponse(key, now: 0))
        #expect(kept.body == Self.body)
        #expect(kept.headers == Self.receipt)
        #expect(kept.expiresAt == 2_000_000_000)
        // The reconciler reads the same answer through the open settlement, and resolving it serves it as released.
        #expect(try await store.openSettlement(key)?.intent.response?.headers == Self.receipt)
        try await store.resolveSettlement(key, outcome: .settled, delivered: true, events: [])
        #expect(try await store.storedResponse(key, now: 0)?.headers == Self.receipt)
    }

    /// The side table's rows go with their answer by a trigger on `paid_response`: a later migration that rebuilds that
    /// table (copy, drop, rename) must create it again.
    @Test func theTriggerThatDeletesReleasedHeadersExists() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        let trigger = try await store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name = 'paid_response_headers_deleted'")
        }
        #expect(trigger == "paid_response")
    }

    @Test func anotherAnswerReplacesTheRowAndItsReleasedHeaders() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: path)
        let key = StoreConformance.key(2)
        try await prepare(store, key, "tg_b", Self.answer("tg_b"))
        try await store.recordDelivery(key, response: Self.answer("tg_b", headers: Self.receipt), metering: nil, delivery: .next(), events: [])
        #expect(try await store.storedResponse(key, now: 0)?.headers == Self.receipt)

        // A later, different answer under the same authorization (a redelivery that ran the request again): its own
        // headers, never the earlier release's.
        let other = Self.answer("tg_b", body: Self.body.reversed(), headers: [["content-type", "application/json"]])
        try await store.recordDelivery(key, response: other, metering: nil, delivery: .next(), events: [])
        let kept = try #require(try await store.storedResponse(key, now: 0))
        #expect(kept.body == other.body && kept.headers == other.headers)

        // The same body for another flow or client is another answer too.
        var stranger = Self.answer("tg_b", body: other.body, headers: Self.receipt)
        stranger.clientId = "mallory"
        try await store.recordDelivery(key, response: stranger, metering: nil, delivery: .next(), events: [])
        #expect(try await store.storedResponse(key, now: 0)?.clientId == "mallory")
        let sideRows = { try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paid_response_headers") } }
        #expect(try await sideRows() == 0, "a replaced answer keeps its headers in its own row")
        // Released again as it is, with other headers: beside it.
        stranger.headers = [["content-type", "application/json"], ["x-again", "1"]]
        try await store.recordDelivery(key, response: stranger, metering: nil, delivery: .next(), events: [])
        #expect(try await store.storedResponse(key, now: 0)?.headers == stranger.headers)
        #expect(try await sideRows() == 1)

        // A small answer (under a page) is replaced whole, its headers in its own row.
        let small = Self.answer("tg_b", body: Array("{}".utf8), headers: Self.receipt)
        try await store.recordDelivery(key, response: small, metering: nil, delivery: .next(), events: [])
        try await store.recordDelivery(key, response: small, metering: nil, delivery: .next(), events: [])
        #expect(try await store.storedResponse(key, now: 0).map { [$0.body == small.body, $0.headers == small.headers] } == [true, true])
        #expect(try await sideRows() == 0)
        try await store.recordDelivery(key, response: stranger, metering: nil, delivery: .next(), events: [])
        try await store.recordDelivery(key, response: stranger, metering: nil, delivery: .next(), events: [])
        #expect(try await sideRows() == 1)

        // Gone with its answer: purged past its expiry, nothing is left beside it.
        _ = try await store.purgeReservations(expiredBefore: 2_100_000_000)
        #expect(try await store.storedResponse(key, now: 0) == nil)
        #expect(try await sideRows() == 0)
    }

    @Test func releasedHeadersSurviveAReopenAndAReleasedClaimLeavesNone() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = StoreConformance.key(3), released = StoreConformance.key(4)
        do {
            let store = try SQLiteStore(path: path)
            try await prepare(store, key, "tg_c", Self.answer("tg_c"))
            try await store.finish(key, state: .settled, payment: StoreConformance.payment(key, "tg_c"),
                                   response: Self.answer("tg_c", headers: Self.receipt), metering: nil, delivery: .next(), events: [])
            try await prepare(store, released, "tg_d", Self.answer("tg_d"))
            try await store.release(released, events: [])
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.storedResponse(key, now: 0)?.headers == Self.receipt)
        #expect(try await store.storedResponse(released, now: 0) == nil)
    }
}
