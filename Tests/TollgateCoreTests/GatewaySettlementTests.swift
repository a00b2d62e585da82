import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// A delivered success is settled exactly once; settlement trouble never turns into a fresh 402.
@Suite struct GatewaySettlementTests {
    /// An authorization made to close while the work runs (its `/settle` refused once the answer was produced: work for
    /// free, again with every fresh nonce) is refused before anything runs unless it stays valid for half the offer's
    /// `maxTimeoutSeconds` (120 s here). A purchase already in doubt is resumed by its retry however little of its window
    /// is left, never refused for its age (a client told so would pay again).
    @Test func anAuthorizationTooShortToSettleIsRefusedBeforeTheWork() async throws {
        let harness = GatewayHarness()
        var (_, proof) = try await harness.offerAndProof()
        for seconds in [7, 59] {
            proof.validBefore = String(harness.clock.nowSeconds + Int64(seconds))
            let refused = await harness.send("/datasets/prices", proof: proof)
            #expect(refused.status == .paymentRequired)
            #expect(refused.reason == harness.rail.wire.authorizationExpired.rawValue, "\(refused.text)")
            #expect(refused.text.contains("at least 60 s"), "\(refused.text)")
        }
        #expect(harness.upstream.received.isEmpty && harness.rail.settleCalls == 0 && harness.rail.verifyCalls == 0)
        proof.validBefore = String(harness.clock.nowSeconds + 60)
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)

        // In doubt (its /settle answer lost), then retried with 30 s of its window left: resumed, not refused.
        let (_, doubtful) = try await harness.offerAndProof(nonce: "0x02")
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        #expect(await harness.send("/datasets/prices", proof: doubtful).reason == "settlement_unknown")
        harness.clock.advance(seconds: 270)
        harness.rail.update { $0.settlements = [.success(.settled)] }
        let retried = await harness.send("/datasets/prices", proof: doubtful)
        #expect(retried.status == .ok, "\(retried.status) \(retried.text)")
        #expect(harness.upstream.received.count == 2)
    }

    /// A copy of a proof whose first request is still running, sent once less than half the window is left (a client
    /// timing out before a slow upstream): told to wait (503), never a 402 asking for a new authorization while the first
    /// request settles this one.
    @Test func aCopyOfAProofInFlightWithLittleWindowLeftWaits() async throws {
        let harness = GatewayHarness()
        var (_, proof) = try await harness.offerAndProof()
        proof.validBefore = String(harness.clock.nowSeconds + 70)
        harness.upstream.update { $0.delay = .seconds(5) }
        async let first = harness.send("/datasets/prices", proof: proof)
        let deadline = ContinuousClock.now + .seconds(30)
        while harness.upstream.received.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        harness.clock.advance(seconds: 20)
        let copy = await harness.send("/datasets/prices", proof: proof)
        let delivered = await first
        #expect(copy.status == .serviceUnavailable, "\(copy.status) \(copy.text)")
        #expect(copy.offerTokens.isEmpty)
        #expect(delivered.status == .ok)
        #expect(harness.rail.settleCalls == 1 && harness.upstream.received.count == 1)
    }

    @Test func paidRequestIsForwardedSettledRecordedAndAudited() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof("/datasets/prices?day=1")
        let correlationId = try #require(offer.correlationId)

        let response = await harness.send("/datasets/prices?day=1", proof: proof)

        #expect(response.status == .ok)
        #expect(response.text == "the data")
        #expect(response.headerFields[ScriptedRail.receiptField] == "settled 0xtx1")
        #expect(response.headerFields[.cacheControl] == "private")
        #expect(response.correlationId == correlationId)
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 1)

        let forwarded = try #require(harness.upstream.received.first)
        #expect(harness.upstream.received.count == 1)
        #expect(harness.isSigned(forwarded))
        #expect(forwarded.headerFields[.tollgateClient] == "alice")
        #expect(forwarded.headerFields[.tollgatePayer] == proof.payer)
        #expect(forwarded.headerFields[.tollgateAmount] == "10000 \(GatewayHarness.asset.address.lowercased())@\(GatewayHarness.network)")
        #expect(forwarded.headerFields[.tollgateUnit] == "request=1")
        #expect(forwarded.headerFields[.tollgateCorrelationId] == correlationId)
        #expect(forwarded.headerFields[ClientDirectory.apiKeyField] == nil)

        let payment = try #require(await harness.store.payments(correlationId: correlationId).first)
        #expect(await harness.store.payments.count == 1)
        #expect(payment.transaction == "0xtx1")
        #expect(payment.amount == "10000")
        #expect(payment.payer == proof.payer.lowercased())
        #expect(payment.clientId == "alice")
        #expect(payment.resource == "datasets")
        #expect(await harness.store.state(of: proof.key) == .settled)

        let events = try await harness.events(correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify, .reserve, .facilitatorVerify, .forward, .settle, .settle, .meter, .respond])
        #expect(events.last?.reason == "delivered")
        // The intent is committed before `/settle` is sent, then the outcome.
        #expect(events.first { $0.stage == .settle }?.reason == "settle_intent")
        #expect(events.last { $0.stage == .settle }?.details["transaction"] == "0xtx1")
    }

    @Test func pendingSettlementIsAskedAgainOnce() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.success(.pending), .success(.settled)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .ok)
        #expect(response.headerFields[ScriptedRail.receiptField] == "settled 0xtx2")
        #expect(harness.rail.settleCalls == 2)
        #expect(await harness.store.state(of: proof.key) == .settled)
        #expect(await harness.store.payments.map(\.transaction) == ["0xtx2"])
        #expect(try await harness.stages(offer.correlationId)
            == ["offer", "proof", "verify", "reserve", "facilitator_verify", "forward", "settle", "settle", "settle", "meter", "respond"])
    }

    @Test func settlementStillPendingIs503AndKeepsTheProofClaimed() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.success(.pending), .success(.pending)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.reason == "settlement_pending")
        #expect(response.headerFields[.retryAfter] == "5")
        #expect(response.offerTokens.isEmpty)
        #expect(response.correlationId == offer.correlationId)
        #expect(harness.rail.settleCalls == 2)
        #expect(await harness.store.state(of: proof.key) == .pending)
        #expect(await harness.store.payments.isEmpty)

        // The same proof again: never a 402 (a stock client would pay twice). The same facilitator is asked
        // again with the same body; settled now, the answer produced before settlement is delivered.
        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .ok)
        #expect(again.text == "the data")
        #expect(again.headerFields[ScriptedRail.receiptField] == "settled 0xtx3")
        // Once within the first request (`pending`), once for the retry: both to the facilitator first asked.
        #expect(harness.rail.resettleCalls == 2)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.map(\.transaction) == ["0xtx3"])

        // Delivered once: a third presentation is an ordinary replay of a delivered payment (the stored answer
        // for this identified client), and nothing is settled again.
        let third = await harness.send("/datasets/prices", proof: proof)
        #expect(third.status == .ok)
        #expect(harness.rail.settleCalls == 3)
        #expect(harness.upstream.received.count == 1)
    }

    @Test func failedSettlementIs402WithReceiptAndNoBody() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.success(.failed)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .paymentRequired)
        #expect(response.body.isEmpty)
        #expect(response.headerFields[ScriptedRail.receiptField] == "failed 0xtx1")
        #expect(response.headerFields[.cacheControl] == "no-store")
        #expect(response.correlationId == offer.correlationId)
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.state(of: proof.key) == .failed)
        #expect(await harness.store.payments.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.suffix(2).map(\.stage) == [.settle, .respond])
        #expect(events.last?.reason == "settlement_failed")

        // Sent again: refused (a claim is used once), as a failed settlement, never as "already used" (which a paying
        // client reads as paid): nothing was taken.
        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .paymentRequired)
        #expect(again.reason == "settlement_failed")
        #expect(harness.rail.settleCalls == 1)
    }

    /// A first `/settle` refused with a code of the x402 SDKs that names a transaction sent (a receipt the facilitator could
    /// not read, a send that threw, a transfer it did not expect): the money may move, so the claim is held (503 unknown,
    /// no fresh terms) and the retry's resolution delivers once the facilitator settles it. Taken for a refusal, its
    /// client was told nothing moved, paid again, and paid twice when the first transaction landed.
    @Test(arguments: ["invalid_exact_evm_failed_to_get_receipt", "invalid_exact_evm_failed_to_execute_transfer",
                      "invalid_exact_evm_transfer_event_mismatch", "invalid_exact_evm_transaction_failed"])
    func aRefusalNamingATransactionSentIsHeldNotRefused(reason: String) async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = reason
        }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable, "\(response.status) \(response.reason ?? "")")
        #expect(response.reason == "settlement_unknown")
        #expect(response.offerTokens.isEmpty)
        #expect(await harness.store.state(of: proof.key) == .unknown)
        #expect(harness.upstream.received.count == 1)

        // The retry asks the facilitator again and delivers what it settled, once.
        harness.rail.update { $0.settlements = [.success(.settled)] }
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .ok, "\(retry.status) \(retry.reason ?? "")")
        #expect(retry.text == "the data")
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)
        #expect(try await harness.events(offer.correlationId).contains { $0.reason == "settlement_resolved" })
    }

    @Test func aLostSettleAnswerIs503SettlementUnknownAndTheRetryIsResolvedNotRepaid() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.reason == "settlement_unknown")
        #expect(response.headerFields[.retryAfter] == "5")
        #expect(response.offerTokens.isEmpty)
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.state(of: proof.key) == .unknown)
        #expect(await harness.store.payments.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.suffix(3).map(\.stage) == [.settle, .settle, .respond])
        #expect(events.last?.reason == "settlement_unknown")

        // Still unknown on the retry: 503 again, never a fresh 402.
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        let stillUnknown = await harness.send("/datasets/prices", proof: proof)
        #expect(stillUnknown.status == .serviceUnavailable)
        #expect(stillUnknown.offerTokens.isEmpty)
        #expect(harness.rail.resettleCalls == 1)

        // The facilitator says the nonce is used after our own attempt: that was our settlement.
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = "invalid_exact_evm_nonce_already_used"
        }
        let resolved = await harness.send("/datasets/prices", proof: proof)
        #expect(resolved.status == .ok)
        #expect(resolved.text == "the data")
        #expect(harness.upstream.received.count == 1)
        let payment = try #require(await harness.store.payments.first)
        #expect(payment.transaction == "")
        let trail = try await harness.stages(offer.correlationId)
        #expect(trail.suffix(2) == ["reserve", "respond"])
        #expect(try await harness.events(offer.correlationId).contains { $0.reason == "settlement_resolved" && $0.details["source"] == "facilitator_nonce_used" })
    }

    /// The first `/settle` told the authorization was used already: without a chain reader, a replay of one spent
    /// elsewhere (402). With one, someone may have sent this very authorization (the payer itself, paying the payee): the
    /// claim is held (503) and the retry's resolution asks the chain, which decides: this payment's transfer delivers,
    /// a nonce spent on another transfer is a 402. Never a 402 while the chain could show the payee was paid.
    @Test(arguments: [
        (false, nil, HTTPResponse.Status.paymentRequired, HTTPResponse.Status.paymentRequired),
        (true, ChainAuthorization.used(transaction: "0xpaid"), .serviceUnavailable, .ok),
        (true, .usedElsewhere(transaction: "0xself"), .serviceUnavailable, .paymentRequired),
    ] as [(Bool, ChainAuthorization?, HTTPResponse.Status, HTTPResponse.Status)])
    func aFirstSettlementToldTheNonceIsUsedAsksTheChainWhereItCan(readable: Bool, chain: ChainAuthorization?, first: HTTPResponse.Status,
                                                                 retried: HTTPResponse.Status) async throws {
        let harness = GatewayHarness(chainNetworks: readable ? [GatewayHarness.network] : [])
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update {
            $0.settlements = [.success(.failed), .success(.failed)]
            $0.failureReason = "invalid_exact_evm_nonce_already_used"
            $0.chain = chain
        }

        let answer = await harness.send("/datasets/prices", proof: proof)
        #expect(answer.status == first, "\(answer.text)")
        if readable { #expect(await harness.store.state(of: proof.key) == .unknown) }
        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == retried, "\(again.text)")
        #expect(await harness.store.payments.map(\.transaction) == (retried == .ok ? ["0xpaid"] : []))
    }

    @Test func aCancellationOnChainMeansNothingMovedAndTheRetryMayPayAfresh() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = "invalid_exact_evm_nonce_already_used"
            $0.chain = .cancelled
        }

        let again = await harness.send("/datasets/prices", proof: proof)

        #expect(again.status == .paymentRequired)
        #expect(again.reason == "settlement_failed")
        #expect(await harness.store.state(of: proof.key) == .failed)
        #expect(await harness.store.payments.isEmpty)
        // The chain is searched from the intent on: recorded before the first `/settle`, nothing of this payment is older.
        let created = await harness.store.intents[proof.key]?.intent.createdAtMillis
        #expect(created != nil && harness.rail.current.chainSince == [created! / 1000])
    }

    @Test func aFacilitatorThatCannotBeReachedWasNeverAskedSoTheProofIsReleased() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.outage)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.reason == "facilitator_unavailable")
        #expect(await harness.store.state(of: proof.key) == nil)
        #expect(await harness.store.intents.isEmpty)

        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .ok)
        #expect(await harness.store.payments.count == 1)
    }

    @Test func aClaimLeftSettlingByAStoppedProcessIsResolvedOnTheRetry() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        // The process is killed while `/settle` is in flight: the claim stays `settling` with its intent.
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        await harness.store.setState(.settling, of: proof.key)

        let again = await harness.send("/datasets/prices", proof: proof)

        #expect(again.status == .ok)
        #expect(again.text == "the data")
        #expect(again.correlationId == offer.correlationId)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)
    }

    @Test func anotherOfferWithAnAuthorizationInDoubtIsNeverA402() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)

        // The same authorization echoing a fresh offer (a client that fetched new terms): still in doubt, 503.
        let (_, other) = try await harness.offerAndProof()
        let response = await harness.send("/datasets/prices", proof: other)

        #expect(response.status == .serviceUnavailable)
        #expect(response.offerTokens.isEmpty)
        #expect(harness.rail.resettleCalls == 0)
    }

    @Test func aRetryLongAfterTheOfferExpiredStillGetsWhatWasPaidFor() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        harness.clock.advance(seconds: Int64(GatewayHarness.offerValiditySeconds) + 30)

        let again = await harness.send("/datasets/prices", proof: proof)

        #expect(again.status == .ok)
        #expect(again.text == "the data")
        #expect(await harness.store.payments.count == 1)
    }
}
