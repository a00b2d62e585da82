import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TollgateAdmin
import TollgateCore
import TollgateSQLite

/// Refunds and usage through the admin API, over payments recorded in a real SQLite store.
@Suite struct AdminBillingTests {
    static let payer = AdminAPITests.payer
    static let asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    static let transaction = "0x" + String(repeating: "AB", count: 32)

    /// A settled payment of `amount` atomic units for a flow of `client`, as the pipeline records it.
    static func pay(_ store: SQLiteStore, _ correlationId: String, amount: String, client: String = "alice",
                    at millis: Int64 = 1_750_000_000_000) async throws {
        let nonce = "0x" + correlationId.dropFirst(3)
        let key = ProofKey(network: "eip155:84532", asset: asset, payer: payer, nonce: nonce)
        _ = try await store.reserve(Reservation(key: key, correlationId: correlationId, clientId: client, resource: "datasets",
                                                validBefore: 2_000_000_000), events: [])
        let payment = PaymentRecord(correlationId: correlationId, rail: "x402-exact-evm", network: key.network, asset: key.asset, payer: payer,
                                    payee: "0x209693bc6afc0c5328ba36faf03c514ef312287c", amount: amount, nonce: nonce, transaction: "0xtx\(nonce)",
                                    clientId: client, resource: "datasets", unit: "request", quantity: 1, settledAtMillis: millis)
        let usage = UsageEvent(correlationId: correlationId, clientId: client, payer: payer, resource: "datasets", unit: "request", quantity: 1,
                               paidQuantity: 1, source: .payment, amount: amount, asset: asset.lowercased(), atMillis: millis)
        try await store.finish(key, state: .settled, payment: payment, response: nil, metering: MeteringRecord(usage: usage), events: [])
    }

    static func flow(_ n: Int) -> String { "tg_" + String(repeating: "0", count: 31) + String(n, radix: 16) }

    static func refund(_ client: any TestClientProtocol, _ body: String, actor: String? = "alice") async throws -> TestResponse {
        try await client.execute(uri: "/admin/refunds", method: .post, headers: AdminAPITests.headers(actor: actor), body: AdminAPITests.json(body))
    }

    @Test func aFullRefundIsPendingPayoutThenNothingIsLeft() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Self.pay(fixture.store, Self.flow(1), amount: "10000")
        try await fixture.run { client in
            let created = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(1))","reason":"upstream served stale data"}"#)
            #expect(created.status == .created)
            let refund = try AdminAPITests.object(created)
            #expect(refund["amount"] as? String == "10000")
            #expect(refund["state"] as? String == "pending_payout")
            #expect(refund["kind"] as? String == "payout")
            #expect(refund["correlationId"] as? String == Self.flow(1))
            #expect(refund["clientId"] as? String == "alice")
            #expect(refund["actor"] as? String == "admin:alice")
            #expect(refund["automatic"] as? Bool == false)
            #expect((refund["id"] as? String)?.hasPrefix("rf_") == true)
            #expect(refund["payoutTransaction"] == nil)
            // camelCase keys, like every other admin view; a payout not yet made has no closedAtMillis or payoutTransaction.
            #expect(Set(refund.keys) == ["id", "correlationId", "kind", "state", "clientId", "payer", "resource", "amount", "asset", "network",
                                         "unit", "reason", "actor", "automatic", "createdAtMillis"])
            #expect(refund["createdAtMillis"] is Int)

            let again = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(1))","reason":"twice"}"#)
            #expect(again.status == .conflict)
            #expect(try AdminAPITests.object(again)["error"] as? String == "already_refunded")
        }
        let trail = try await fixture.store.events(correlationId: Self.flow(1))
        #expect(trail.contains { $0.event.stage == .refund && $0.event.clientId == "alice" })
    }

    /// A refund sent again with its `Idempotency-Key` (a retry after a timeout or a 503, whose first try may have been
    /// recorded) gets the refund recorded the first time; the key with another body is a 409; a new key is a new refund.
    @Test func aRefundSentAgainWithItsIdempotencyKeyIsRecordedOnce() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Self.pay(fixture.store, Self.flow(7), amount: "10000")
        @Sendable func refund(_ client: any TestClientProtocol, amount: String, key: String) async throws -> TestResponse {
            var headers = AdminAPITests.headers(actor: "alice")
            headers[HTTPField.Name("Idempotency-Key")!] = key
            return try await client.execute(uri: "/admin/refunds", method: .post, headers: headers,
                                            body: AdminAPITests.json(#"{"correlationId":"\#(Self.flow(7))","amount":"\#(amount)","reason":"half"}"#))
        }
        try await fixture.run { client in
            let first = try await refund(client, amount: "5000", key: "ops-42")
            let again = try await refund(client, amount: "5000", key: "ops-42")
            #expect(first.status == .created && again.status == .created)
            #expect(try AdminAPITests.object(again)["id"] as? String == AdminAPITests.object(first)["id"] as? String)
            let conflict = try await refund(client, amount: "4000", key: "ops-42")
            #expect(conflict.status == .conflict)
            #expect(try AdminAPITests.object(conflict)["error"] as? String == "idempotency_conflict")
            #expect(try await refund(client, amount: "5000", key: "ops-43").status == .created)
            #expect(try await refund(client, amount: "1", key: "ops-44").status == .conflict, "the whole 10000 is refunded")
        }
        #expect(try await fixture.store.refunds(state: nil, correlationId: Self.flow(7), limit: 10).map(\.amount) == ["5000", "5000"])
    }

    @Test func partialRefundsNeverExceedWhatWasPaid() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Self.pay(fixture.store, Self.flow(2), amount: "10000")
        try await fixture.run { client in
            let first = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(2))","amount":"4000","reason":"partial"}"#)
            #expect(first.status == .created)
            #expect(try AdminAPITests.object(first)["amount"] as? String == "4000")

            let over = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(2))","amount":"6001","reason":"too much"}"#)
            #expect(over.status == .conflict)
            #expect(try AdminAPITests.object(over)["error"] as? String == "exceeds_paid")

            let rest = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(2))","amount":null,"reason":"the rest"}"#)
            #expect(rest.status == .created)
            #expect(try AdminAPITests.object(rest)["amount"] as? String == "6000")
            #expect(try await Self.refund(client, #"{"correlationId":"\#(Self.flow(2))","amount":"1","reason":"more"}"#).status == .conflict)
        }
        let refunds = try await fixture.store.refunds(state: nil, correlationId: Self.flow(2), limit: 10)
        #expect(refunds.map(\.amount).sorted() == ["4000", "6000"])
    }

    @Test func refusedRefundsChangeNothing() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Self.pay(fixture.store, Self.flow(3), amount: "10000")
        try await fixture.run { client in
            let unknown = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(9))","reason":"never paid"}"#)
            #expect(unknown.status == .notFound)
            #expect(try AdminAPITests.object(unknown)["error"] as? String == "not_found")
            for body in [
                #"{"correlationId":"\#(Self.flow(3))","amount":"0","reason":"zero"}"#,
                #"{"correlationId":"\#(Self.flow(3))","amount":"0100","reason":"leading zero"}"#,
                #"{"correlationId":"\#(Self.flow(3))","amount":100,"reason":"a number"}"#,
                #"{"correlationId":"\#(Self.flow(3))","amount":"1.5","reason":"a decimal"}"#,
                #"{"correlationId":"\#(Self.flow(3))","ammount":"100","reason":"misspelt"}"#,
                #"{"correlationId":"\#(Self.flow(3))","reason":"   "}"#,
                #"{"correlationId":"\#(Self.flow(3))","reason":""}"#,
                #"{"correlationId":"TG_\#(Self.flow(3).dropFirst(3))","reason":"case"}"#,
                #"{"reason":"no flow"}"#,
                "[]",
                // The snake_case spelling is an unknown field, not an alias.
                #"{"correlation_id":"\#(Self.flow(3))","reason":"snake_case"}"#,
                #"{"correlationId":"\#(Self.flow(3))","correlation_id":"\#(Self.flow(3))","reason":"both spellings"}"#,
            ] {
                let response = try await Self.refund(client, body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(try AdminAPITests.object(response)["error"] as? String == "bad_request")
            }
            let badActor = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(3))","reason":"x"}"#, actor: "not allowed")
            #expect(badActor.status == .badRequest)
            let snake = try AdminAPITests.object(try await Self.refund(client, #"{"correlation_id":"\#(Self.flow(3))","reason":"x"}"#))
            #expect(snake["reason"] as? String == #"unknown field "correlation_id"; expected amount, correlationId, reason"#)
        }
        #expect(try await fixture.store.refunds(state: nil, correlationId: nil, limit: 10).isEmpty)
    }

    @Test func aPendingPayoutIsClosedWithItsTransaction() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Self.pay(fixture.store, Self.flow(4), amount: "10000")
        try await fixture.run { client in
            let created = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(4))","amount":"2500","reason":"late"}"#)
            let id = try #require(try AdminAPITests.object(created)["id"] as? String)
            let close = { (id: String, body: String) in
                try await client.execute(uri: "/admin/refunds/\(id)/close", method: .post, headers: AdminAPITests.headers(actor: "payouts"),
                                         body: AdminAPITests.json(body))
            }
            let short = try await close(id, #"{"payoutTransaction":"0x1234"}"#)
            #expect(short.status == .badRequest)
            #expect((try AdminAPITests.object(short)["reason"] as? String)?.hasPrefix("payoutTransaction: ") == true)
            #expect(try await close(id, #"{"payoutTransaction":"\#(Self.transaction)","note":"x"}"#).status == .badRequest)
            #expect(try await close(id, #"{"payout_transaction":"\#(Self.transaction)"}"#).status == .badRequest)
            #expect(try await close("RF_0000", #"{"payoutTransaction":"\#(Self.transaction)"}"#).status == .badRequest)

            let closed = try await close(id, #"{"payoutTransaction":"\#(Self.transaction)"}"#)
            #expect(closed.status == .ok)
            let refund = try AdminAPITests.object(closed)
            #expect(refund["state"] as? String == "paid")
            #expect(refund["payoutTransaction"] as? String == Self.transaction.lowercased())
            #expect(refund["closedAtMillis"] is Int)
            #expect(refund["closed_at_millis"] == nil && refund["payout_transaction"] == nil)

            let twice = try await close(id, #"{"payoutTransaction":"\#(Self.transaction)"}"#)
            #expect(twice.status == .conflict)
            #expect(try AdminAPITests.object(twice)["error"] as? String == "not_pending")
            let unknown = try await close("rf_00000000000000ff", #"{"payoutTransaction":"\#(Self.transaction)"}"#)
            #expect(unknown.status == .notFound)
            #expect(try AdminAPITests.object(unknown)["error"] as? String == "unknown_refund")
        }
    }

    @Test func theListShowsPendingPayoutsNewestFirst() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        for n in 5...7 { try await Self.pay(fixture.store, Self.flow(n), amount: "1000") }
        try await fixture.run { client in
            var ids: [String] = []
            for n in 5...7 {
                let created = try await Self.refund(client, #"{"correlationId":"\#(Self.flow(n))","reason":"batch"}"#)
                ids.append(try #require(try AdminAPITests.object(created)["id"] as? String))
                try await Task.sleep(for: .milliseconds(5))
            }
            let closed = try await client.execute(uri: "/admin/refunds/\(ids[0])/close", method: .post, headers: AdminAPITests.headers(),
                                                  body: AdminAPITests.json(#"{"payoutTransaction":"\#(Self.transaction)"}"#))
            #expect(closed.status == .ok)
            // The same transaction for another refund: a conflict unless the close says it is a batch payout.
            let reused = try await client.execute(uri: "/admin/refunds/\(ids[1])/close", method: .post, headers: AdminAPITests.headers(),
                                                  body: AdminAPITests.json(#"{"payoutTransaction":"\#(Self.transaction)"}"#))
            #expect(reused.status == .conflict)
            #expect(try AdminAPITests.object(reused)["error"] as? String == "payout_transaction_used")
            let notABoolean = try await client.execute(uri: "/admin/refunds/\(ids[1])/close", method: .post, headers: AdminAPITests.headers(),
                                                       body: AdminAPITests.json(#"{"payoutTransaction":"\#(Self.transaction)","batch":"yes"}"#))
            #expect(notABoolean.status == .badRequest)
            let batch = try await client.execute(uri: "/admin/refunds/\(ids[2])/close", method: .post, headers: AdminAPITests.headers(),
                                                 body: AdminAPITests.json(#"{"payoutTransaction":"\#(Self.transaction)","batch":true}"#))
            #expect(batch.status == .ok)
            #expect(try AdminAPITests.object(batch)["state"] as? String == "paid")
            let payout = try await fixture.store.events(correlationId: Self.flow(7)).map(\.event).filter { $0.reason == "payout_recorded" }
            #expect(payout.map { $0.details["batch"] } == ["true"])

            func list(_ query: String) async throws -> [[String: Any]] {
                let response = try await client.execute(uri: "/admin/refunds\(query)", method: .get, headers: AdminAPITests.headers())
                #expect(response.status == .ok, "\(query)")
                return try #require(try AdminAPITests.object(response)["refunds"] as? [[String: Any]])
            }
            #expect(try await list("?state=pending_payout").compactMap { $0["id"] as? String } == [ids[1]])
            #expect(try await list("?state=paid").compactMap { $0["id"] as? String } == [ids[2], ids[0]])
            #expect(try await list("").count == 3)
            #expect(try await list("?limit=1").compactMap { $0["id"] as? String } == [ids[2]])
            #expect(try await list("?correlationId=\(Self.flow(6))").compactMap { $0["id"] as? String } == [ids[1]])
            #expect(try await list("?state=credited").isEmpty)
            for query in ["?state=pending", "?limit=0", "?limit=1001", "?limit=ten", "?correlationId=tg_1"] {
                let response = try await client.execute(uri: "/admin/refunds\(query)", method: .get, headers: AdminAPITests.headers())
                #expect(response.status == .badRequest, "\(query)")
            }
        }
    }

    @Test func usageIsSummedOverAPeriod() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        // 2026-11-10 and 2026-12-02 (UTC).
        try await Self.pay(fixture.store, Self.flow(8), amount: "10000", at: 1_794_268_800_000)
        try await Self.pay(fixture.store, Self.flow(9), amount: "5000", at: 1_796_169_600_000)
        try await fixture.run { client in
            let november = try await client.execute(uri: "/admin/usage?client=alice&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00%2B00:00",
                                                    method: .get, headers: AdminAPITests.headers())
            #expect(november.status == .ok)
            #expect(String(buffer: november.body) == #"{"client":"alice","from":"2026-11-01T00:00:00.000Z","to":"2026-12-01T00:00:00.000Z","usage":[{"creditedUnits":0,"events":1,"paid":{"0x036cbd53842c5426634e7929541ec2318f3dcf7e":"10000"},"quantity":1,"refunded":{},"resource":"datasets","unit":"request"}]}"#)

            let both = try await client.execute(uri: "/admin/usage?from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z", method: .get,
                                                headers: AdminAPITests.headers())
            let usage = try #require(try AdminAPITests.object(both)["usage"] as? [[String: Any]])
            #expect(usage.first?["events"] as? Int == 2)

            let reversed = try await client.execute(uri: "/admin/usage?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", method: .get,
                                                    headers: AdminAPITests.headers())
            #expect(reversed.status == .ok)
            #expect((try AdminAPITests.object(reversed)["usage"] as? [Any])?.isEmpty == true)

            let thisMonth = try AdminAPITests.object(try await client.execute(uri: "/admin/usage", method: .get, headers: AdminAPITests.headers()))
            let from = try #require(thisMonth["from"] as? String)
            #expect(from.hasSuffix("-01T00:00:00.000Z"))
            #expect(thisMonth["client"] == nil)

            for query in ["?from=2026-11-31T00:00:00Z", "?to=yesterday", "?from=2026-11-01", "?client="] {
                let response = try await client.execute(uri: "/admin/usage\(query)", method: .get, headers: AdminAPITests.headers())
                #expect(response.status == .badRequest, "\(query)")
            }

            let balances = try await client.execute(uri: "/admin/usage/balances?client=alice", method: .get, headers: AdminAPITests.headers())
            #expect(String(buffer: balances.body) == #"{"balances":{},"client":"alice"}"#)
            #expect(try await client.execute(uri: "/admin/usage/balances", method: .get, headers: AdminAPITests.headers()).status == .badRequest)
        }
    }

    @Test(arguments: [
        ("2026-11-01T00:00:00Z", Int64(1_793_491_200_000)),
        ("2026-11-01t00:00:00.5z", 1_793_491_200_500),
        ("2026-11-01T02:30:00.123456+02:30", 1_793_491_200_123),
        ("2024-02-29T23:59:59-00:01", 1_709_251_259_000),
        ("1969-12-31T23:59:59.999Z", -1),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000),
        ("2016-12-31T23:59:60Z", 1_483_228_800_000),
    ])
    func rfc3339Parses(text: String, millis: Int64) {
        #expect(RFC3339.millis(text) == millis)
    }

    @Test(arguments: ["2023-02-29T00:00:00Z", "2026-11-01T24:00:00Z", "2026-11-01T12:00:60Z", "2026-11-01T00:00:00", "2026-11-01 00:00:00Z",
                      "2026-11-01T00:00:00.Z", "2026-11-01T00:00:00+2:00", "２026-11-01T00:00:00Z", "2026-11-01T00:00:00Z "])
    func rfc3339Refuses(text: String) {
        #expect(RFC3339.millis(text) == nil)
    }

    @Test func rfc3339FormatsAndFindsMonths() {
        #expect(RFC3339.format(millis: 1_793_491_200_123) == "2026-11-01T00:00:00.123Z")
        #expect(RFC3339.format(millis: -62_135_596_800_000) == "0001-01-01T00:00:00.000Z")
        #expect(RFC3339.format(millis: -1) == "1969-12-31T23:59:59.999Z")
        let december = RFC3339.month(containing: 1_796_169_600_000)
        #expect(RFC3339.format(millis: december.start) == "2026-12-01T00:00:00.000Z")
        #expect(RFC3339.format(millis: december.end) == "2027-01-01T00:00:00.000Z")
    }
}
