import Foundation
import NIOHTTP1
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateSQLite
import TollgateX402

/// Every metering unit and pricing rule against the sample upstream, over real sockets and the
/// development facilitator.
@Suite struct MeteringLiveTests {
    static let key = ("X-Api-Key", "tg_demo_reports_key")

    /// Asks, pays the first offer, and returns the 402 and the paid answer.
    static func payFor(_ method: HTTPMethod, _ url: String, _ headers: [(String, String)] = [], body: String? = nil)
        async throws -> (offer: Exchange, paid: Exchange) {
        let offer = try await Exchange.send(method, url, headers, body: body)
        try #require(offer.status == 402)
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let proof = HeaderCodec.encode(try payer.pay(try #require(offer.terms), now: Int64(Date().timeIntervalSince1970)))
        return (offer, try await Exchange.send(method, url, headers + [("PAYMENT-SIGNATURE", proof)], body: body))
    }

    static func usage(_ store: SQLiteStore, client: String? = nil) async throws -> [UsageSummary] {
        try await store.usage(clientId: client, fromMillis: 0, toMillis: .max)
    }

    @Test func perRecordPriceIsQuotedFromTheQueryAndRecordsAreCountedFromTheBody() async throws {
        let (_, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let (offer, paid) = try await Self.payFor(.GET, stack.gatewayURL + "/records?limit=20")
            #expect(offer.terms?.accepts.first?.amount == "2000")  // 0.0001 × 20
            #expect(offer.body.contains(#""unitPrice":"0.0001""#))
            #expect(paid.status == 200)
            #expect(paid.body.components(separatedBy: #""symbol""#).count - 1 == 20)
            let usage = try #require(try await Self.usage(stack.store).first { $0.resource == "records" })
            #expect(usage.quantity == 20)
            #expect(usage.events == 1)
            #expect(usage.paid.values.first == "2000")

            let tooMany = try await Exchange.get(stack.gatewayURL + "/records?limit=251")
            #expect(tooMany.status == 400)
            #expect(tooMany.body.contains("invalid_quantity"))
        }
    }

    @Test func byteUnitCountsTheDeliveredFile() async throws {
        let (_, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let (offer, paid) = try await Self.payFor(.GET, stack.gatewayURL + "/exports/prices")
            #expect(offer.terms?.accepts.first?.amount == "50000")
            #expect(paid.status == 200)
            #expect(paid.body.hasPrefix("symbol,date,price,volume"))
            let usage = try #require(try await Self.usage(stack.store).first { $0.resource == "exports" })
            #expect(usage.unit == "byte")
            #expect(usage.quantity == paid.body.utf8.count)
        }
    }

    @Test func secondsOfWorkArePricedFromTheBodySettledBeforeAndCountedFromTheUpstreamHeader() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let (offer, paid) = try await Self.payFor(.POST, stack.gatewayURL + "/jobs/render", [Self.key], body: #"{"job":{"seconds":3}}"#)
            #expect(offer.terms?.accepts.first?.amount == "6000")
            #expect(paid.status == 200)
            #expect(paid.body.contains(#""seconds":"3""#))
            let usage = try #require(try await Self.usage(stack.store, client: "analyst").first { $0.resource == "jobs" })
            #expect(usage.quantity == 3)
            #expect(try await facilitator.ledger.transferCount() == 1)
            // The body decides the price: a quantity past the rule's max is a 400, never a 402.
            let tooLong = try await Exchange.send(.POST, stack.gatewayURL + "/jobs/render", [Self.key], body: #"{"job":{"seconds":61}}"#)
            #expect(tooLong.status == 400)
            #expect(tooLong.body.contains("invalid_quantity"))
        }
    }

    @Test func settledBeforeButNotDeliveredBecomesAnAutomaticPendingRefund() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            // The sample upstream has no /jobs/missing: it answers 404 after the payment settled.
            let (offer, paid) = try await Self.payFor(.POST, stack.gatewayURL + "/jobs/missing", [Self.key])
            #expect(paid.status == 404)
            #expect(try await facilitator.ledger.transferCount() == 1)
            let refundId = try #require(paid.headers["tollgate-refund"])
            let refund = try #require(try await stack.store.refunds(state: .pendingPayout, correlationId: offer.correlationId, limit: 5).first)
            #expect(refund.id == refundId)
            #expect(refund.automatic)
            #expect(refund.amount == "2000")  // the whole (fixed) price: nothing was delivered
            #expect(refund.state == .pendingPayout)
            let trail = try await stack.store.events(correlationId: try #require(offer.correlationId)).map(\.event.stage.rawValue)
            #expect(trail.suffix(3) == ["forward", "refund", "respond"])
        }
    }

    @Test func aPackageIsBoughtOnceAndSpentWithoutNewPayments() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/search?q=ACME"
            let (offer, bought) = try await Self.payFor(.GET, url, [Self.key])
            #expect(offer.terms?.accepts.first?.amount == "500000")
            #expect(offer.body.contains(#""package":{"name":"search-credits","units":100}"#))
            #expect(bought.status == 200)
            #expect(try await stack.store.packageBalances(clientId: "analyst") == ["search-credits": 99])

            let next = try await Exchange.get(url, [Self.key])
            #expect(next.status == 200)
            #expect(next.headers["tollgate-package-balance"] == "98 request")
            #expect(next.body.contains("ACME"))
            #expect(try await facilitator.ledger.transferCount() == 1)
            let usage = try #require(try await Self.usage(stack.store, client: "analyst").first { $0.resource == "search" })
            #expect(usage.events == 2)
            #expect(usage.quantity == 2)
        }
    }
}
