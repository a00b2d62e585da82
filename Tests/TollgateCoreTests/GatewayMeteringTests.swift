import Foundation
import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// Metering units, pricing rules and the moment of consumption, end to end through the pipeline.
@Suite struct GatewayMeteringTests {
    static func route(_ path: String, resource: String, price: String = "0.001", unit: String, metering: Metering,
                      method: HTTPRequest.Method? = nil) -> Route {
        var pricing = Route.Pricing(price: price, accepts: [.init(asset: GatewayHarness.asset, amount: TokenAmount(decimal: price, decimals: 6)!,
                                                                  payTo: GatewayHarness.payTo)],
                                    unit: unit, quantity: 1, offerValiditySeconds: 60, maxTimeoutSeconds: 120)
        pricing.metering = metering
        return Route(method: method, path: PathPattern(path)!, resource: resource, description: resource, mimeType: "application/json",
                     scope: nil, allowsAnonymous: false, pricing: pricing)
    }

    static let records = route("/records", resource: "records", unit: "record", metering: Metering(
        unit: .record, quantity: .query(name: "limit", defaultValue: nil, maximum: 500), measure: .jsonArray("records")))
    static let search = route("/search", resource: "search", unit: "request", metering: Metering(
        unit: .request, quantity: .body(path: "query.count", defaultValue: 2, maximum: 10)), method: .post)
    static let exports = route("/exports/*", resource: "exports", price: "0.05", unit: "byte", metering: Metering(unit: .byte, measure: .bodyBytes))
    static let failing = route("/flaky", resource: "flaky", price: "0.01", unit: "request", metering: Metering(moment: .onRequest))
    static let jobs = route("/jobs", resource: "jobs", price: "0.002", unit: "second", metering: Metering(
        unit: .second, quantity: .query(name: "seconds", defaultValue: 5, maximum: 60), measure: .header("X-Work-Seconds"), settle: .before))
    static let package = route("/bundle", resource: "bundle", price: "0.50", unit: "request", metering: Metering(
        unit: .request, quantity: .query(name: "n", defaultValue: 1, maximum: 5), package: .init(name: "bundle", units: 3)))

    static func harness() -> GatewayHarness {
        GatewayHarness(routes: RouteTable([records, search, exports, failing, jobs, package]))
    }

    static func offeredAmount(_ response: GatewayResponse) -> String? {
        let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return ((json?["accepts"] as? [[String: Any]])?.first?["amount"]) as? String
    }

    static func body(_ response: GatewayResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    @Test func perUnitPriceQuotesPriceTimesTheRequestedQuantityAndCountsDeliveredRecords() async throws {
        let harness = Self.harness()
        let offer = await harness.send("/records?limit=120")
        #expect(offer.status == .paymentRequired)
        #expect(Self.offeredAmount(offer) == "120000")  // 0.001 USDC × 120
        #expect(Self.body(offer)["unitPrice"] as? String == "0.001")
        #expect(Self.body(offer)["quantity"] as? Int == 120)
        #expect(Self.body(offer)["price"] as? String == "0.12")

        harness.upstream.update { $0.body = Array(#"{"records":[1,2,3,4,5,6,7]}"#.utf8) }
        await harness.batcher.flush()
        let proof = harness.proof(amount: "120000", offerToken: offer.offerTokens.first)
        let response = await harness.send("/records?limit=120", proof: proof)
        #expect(response.status == .ok)
        #expect(harness.upstream.received.last?.headerFields[.tollgateUnit] == "record=120")
        let usage = try #require(await harness.store.usage[offer.correlationId ?? ""])
        #expect(usage.quantity == 7)
        #expect(usage.paidQuantity == 120)
        #expect(usage.unit == "record")
        #expect(usage.amount == "120000")
        let meter = try #require(try await harness.events(offer.correlationId).first { $0.stage == .meter })
        #expect(meter.details["consumed"] == "7")
    }

    @Test func aProofForAnotherQuantityDoesNotPay() async throws {
        let harness = Self.harness()
        let offer = await harness.send("/records?limit=10")
        await harness.batcher.flush()
        // The offer binds the request line, so paying 10 records' price for 500 records is refused.
        let response = await harness.send("/records?limit=500", proof: harness.proof(amount: "10000", offerToken: offer.offerTokens.first))
        #expect(response.status == .paymentRequired)
        #expect(response.reason == Reason.offerResourceMismatch.rawValue)
        #expect(harness.upstream.received.isEmpty)
    }

    @Test(arguments: [("/records?limit=501", "at most 500"), ("/records", "give the query parameter limit"),
                      ("/records?limit=0", "whole number"), ("/records?limit=abc", "whole number"), ("/records?limit=1&limit=2", "once")])
    func quantityThatCannotBePricedIsABadRequestNotA402(target: String, message: String) async throws {
        let harness = Self.harness()
        let response = await harness.send(target)
        #expect(response.status == .badRequest)
        #expect(response.reason == Reason.invalidQuantity.rawValue)
        #expect(response.text.contains(message))
        #expect(response.offerTokens.isEmpty)
    }

    @Test func quantityFromAJSONBodyField() async throws {
        let harness = Self.harness()
        func post(_ body: String) async -> GatewayResponse {
            await harness.gateway.handle(GatewayRequest(method: .post, target: "/search", headerFields: [ClientDirectory.apiKeyField: GatewayHarness.aliceKey],
                                                        body: Array(body.utf8)))
        }
        #expect(Self.offeredAmount(await post(#"{"query":{"count":4}}"#)) == "4000")
        #expect(Self.offeredAmount(await post(#"{"query":{}}"#)) == "2000")  // the default
        #expect(await post(#"{"query":{"count":11}}"#).status == .badRequest)
        #expect(await post(#"{"query":{"count":true}}"#).status == .badRequest)
        #expect(await post("not json").status == .badRequest)
    }

    @Test func byteUnitRecordsTheDeliveredBytes() async throws {
        let harness = Self.harness()
        let body = Array(repeating: UInt8(ascii: "x"), count: 4321)
        harness.upstream.update { $0.body = body }
        let (offer, proof) = try await harness.offerAndProof("/exports/all.csv", amount: "50000")
        #expect(await harness.send("/exports/all.csv", proof: proof).status == .ok)
        #expect(await harness.store.usage[offer.correlationId ?? ""]?.quantity == 4321)
    }

    @Test func onRequestSettlesAnUpstreamErrorAndOnSuccessDoesNot() async throws {
        let harness = Self.harness()
        harness.upstream.update { $0.status = .internalServerError }
        let (offer, proof) = try await harness.offerAndProof("/flaky", amount: "10000")
        let response = await harness.send("/flaky", proof: proof)
        #expect(response.status == .internalServerError)
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.payments(correlationId: offer.correlationId ?? "").count == 1)

        // The default moment (on_success): the same answer settles nothing and the proof stays usable.
        let records = Self.harness()
        records.upstream.update { $0.status = .internalServerError }
        let (_, recordsProof) = try await records.offerAndProof("/records?limit=2", amount: "2000")
        #expect(await records.send("/records?limit=2", proof: recordsProof).status == .internalServerError)
        #expect(records.rail.settleCalls == 0)
        #expect(await records.store.state(of: recordsProof.key) == nil)
    }

    /// An interim answer (an MCP tool asking its caller for input) is not the work paid for: even where every answer is
    /// charged (`on_request`) it settles nothing and the proof stays usable, so the call that completes it, with the same
    /// payment, is the one that settles, once.
    @Test func anInterimAnswerSettlesNothingEvenOnRequest() async throws {
        let harness = Self.harness()
        harness.upstream.update {
            $0.status = .badGateway
            $0.isFinal = false
        }
        let (offer, proof) = try await harness.offerAndProof("/flaky", amount: "10000")
        let interim = await harness.send("/flaky", proof: proof)
        #expect(interim.status == .badGateway)
        #expect(harness.rail.settleCalls == 0)
        #expect(await harness.store.state(of: proof.key) == nil)

        harness.upstream.update {
            $0.status = .ok
            $0.isFinal = true
        }
        let complete = await harness.send("/flaky", proof: proof)
        #expect(complete.status == .ok)
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.payments(correlationId: offer.correlationId ?? "").count == 1)
        #expect(harness.upstream.received.count == 2)
    }

    @Test func settleBeforeRefundsAutomaticallyWhenTheUpstreamFails() async throws {
        let harness = Self.harness()
        harness.upstream.update { $0.failure = TollgateError(.upstreamUnavailable, "down") }
        let (offer, proof) = try await harness.offerAndProof("/jobs?seconds=3", amount: "6000")
        let response = await harness.send("/jobs?seconds=3", proof: proof)

        #expect(response.status == .badGateway)
        #expect(harness.rail.settleCalls == 1)
        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(response.headerFields[.tollgateRefund] == refund.id)
        #expect(refund.automatic)
        #expect(refund.correlationId == offer.correlationId)
        #expect(refund.amount == "6000")
        #expect(response.text.contains(refund.id))
        let stages = try await harness.stages(offer.correlationId)
        #expect(stages.suffix(4) == ["settle", "forward", "refund", "respond"])
    }

    @Test func settleBeforeDeliversAndMeasuresTheSecondsReported() async throws {
        let harness = Self.harness()
        harness.upstream.update {
            $0.fields = [HTTPField.Name("X-Work-Seconds")!: "2"]
        }
        let (offer, proof) = try await harness.offerAndProof("/jobs?seconds=3", amount: "6000")
        let response = await harness.send("/jobs?seconds=3", proof: proof)
        #expect(response.status == .ok)
        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(await harness.store.usage[offer.correlationId ?? ""]?.quantity == 2)
        #expect(try await harness.stages(offer.correlationId).suffix(4) == ["settle", "forward", "meter", "respond"])
    }

    @Test func packageBuysUnitsThatLaterRequestsSpendUntilTheyRunOut() async throws {
        let harness = Self.harness()
        let offer = await harness.send("/bundle")
        #expect(offer.status == .paymentRequired)
        #expect(Self.body(offer)["quantity"] as? Int == 3)
        #expect((Self.body(offer)["package"] as? [String: Any])?["units"] as? Int == 3)
        #expect(Self.offeredAmount(offer) == "500000")
        await harness.batcher.flush()

        // The purchase delivers this request too, and spends its unit from the 3 bought.
        let bought = await harness.send("/bundle", proof: harness.proof(amount: "500000", offerToken: offer.offerTokens.first))
        #expect(bought.status == .ok)
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 2)

        let first = await harness.send("/bundle")
        #expect(first.status == .ok)
        #expect(first.headerFields[.tollgatePackageBalance] == "1 request")
        #expect(await harness.send("/bundle").status == .ok)
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 0)
        #expect(harness.rail.settleCalls == 1)

        let empty = await harness.send("/bundle")
        #expect(empty.status == .paymentRequired)
        #expect(empty.text.contains("balance (0 request units)"))
        // Bob has no balance of his own.
        #expect(await harness.send("/bundle", apiKey: GatewayHarness.bobKey).status == .paymentRequired)
        let usage = await harness.store.usage.values.filter { $0.source == .package }
        #expect(usage.count == 2)
    }

    /// The answer of a package purchase is lost on its way (never kept for a retry: the units are the purchase), but its
    /// client spent the units meanwhile: no automatic refund (the client used what it paid for, and a refund would hand
    /// back money and units both); the payment is listed for the operator's review, the balance untouched.
    @Test func aLostPackagePurchaseWhoseUnitsWereSpentIsReviewedNotRefunded() async throws {
        let harness = Self.harness()
        let offer = await harness.send("/bundle")
        await harness.batcher.flush()
        let bought = await harness.send("/bundle", proof: harness.proof(amount: "500000", offerToken: offer.offerTokens.first))
        #expect(bought.status == .ok)
        let lost = try #require(bought.settledDelivery)
        #expect(await harness.send("/bundle").status == .ok)
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 1)

        await harness.gateway.undelivered(lost, detail: "connection reset")

        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 1)
        #expect(try await harness.store.settlementsForReview(limit: 10).map(\.intent.correlationId) == [lost.correlationId])
        let review = try await harness.store.events(correlationId: lost.correlationId).last { $0.event.stage == .refund }?.event
        #expect(review?.reason == "manual_review" && review?.details["detail"]?.contains("spent") == true, "\(String(describing: review))")
    }

    @Test func packageUnitsAreGivenBackWhenTheUpstreamFails() async throws {
        let harness = Self.harness()
        await harness.store.setBalance(client: "alice", package: "bundle", units: 4)
        harness.upstream.update { $0.status = .serviceUnavailable }
        #expect(await harness.send("/bundle?n=3").status == .serviceUnavailable)
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 4)
        // A request asking for more than the balance holds is offered the package, nothing is spent.
        harness.upstream.update { $0.status = .ok }
        #expect(await harness.send("/bundle?n=5").status == .paymentRequired)
        #expect(await harness.send("/bundle?n=3").status == .ok)
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 1)
    }

    /// A harness whose datasets route admits anonymous callers.
    static func anonymousDatasets(automaticRefunds: Bool = true) -> GatewayHarness {
        var open = GatewayHarness.datasets
        open.allowsAnonymous = true
        return GatewayHarness(routes: RouteTable([open]), automaticRefunds: automaticRefunds)
    }

    /// An anonymous purchase of `/datasets/prices`, delivered: the harness and the proof that paid.
    static func anonymousPurchaseDelivered() async throws -> (GatewayHarness, TestProof) {
        let harness = anonymousDatasets()
        let (_, proof) = try await harness.offerAndProof(apiKey: nil)
        #expect(await harness.send("/datasets/prices", apiKey: nil, proof: proof).status == .ok)
        return (harness, proof)
    }

    /// A delivered payment presented again after its authorization expired, by a caller the kept answer cannot be
    /// given to: it is told the authorization was used (it paid), never that it expired (which reads as "nothing
    /// taken, pay again").
    @Test func aLateRetryOfASpentAuthorizationIsToldItWasUsedNotThatItExpired() async throws {
        let (harness, proof) = try await Self.anonymousPurchaseDelivered()
        harness.clock.advance(seconds: 600)
        let late = await harness.send("/datasets/prices", apiKey: nil, proof: proof)
        #expect(late.status == .paymentRequired)
        #expect(late.reason == "invalid_exact_evm_nonce_already_used", "\(late.reason ?? "")")
        #expect(harness.upstream.received.count == 1)
    }

    /// The same, hours later: the resolved settlement intent was purged, but the claim on the proof still says it was
    /// spent. A client told "expired" with fresh terms would take it for nothing taken and pay again.
    @Test func aLateRetryAfterItsSettlementWasPurgedIsStillToldItWasUsed() async throws {
        let (harness, proof) = try await Self.anonymousPurchaseDelivered()
        harness.clock.advance(seconds: 2 * 3_600)
        // The store stamps its rows with the system's time: purged as of two hours from now, the intent is gone.
        _ = try await harness.store.purgeReservations(expiredBefore: SystemClock().nowSeconds + 2 * 3_600)
        #expect(try await harness.store.openSettlement(proof.key) == nil)
        let late = await harness.send("/datasets/prices", apiKey: nil, proof: proof)
        #expect(late.status == .paymentRequired)
        #expect(late.reason == "invalid_exact_evm_nonce_already_used", "\(late.reason ?? "")")
        #expect(harness.upstream.received.count == 1)
        // A proof that never moved money is still refused as expired.
        let (_, unused) = try await harness.offerAndProof(apiKey: nil, nonce: "0x02")
        harness.clock.advance(seconds: 2 * 3_600)
        #expect(await harness.send("/datasets/prices", apiKey: nil, proof: unused).reason != "invalid_exact_evm_nonce_already_used")
    }

    /// An operator refunds a delivered payment (a dispute): the kept answer is not served to a retry afterwards.
    @Test func aRefundedPaymentsAnswerIsNotReplayed() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        let flow = try #require(await harness.send("/datasets/prices", proof: proof).settledDelivery)
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)
        _ = try await harness.store.refund(RefundRequest(correlationId: flow.correlationId, reason: "disputed", actor: "admin:ops"), nowMillis: 1)
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status != .ok)
        #expect(retry.text != "the data")
        #expect(harness.upstream.received.count == 1)
    }
}
