import Logging
import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// Rate limits by traffic class, the invalid-proof cache, revocation and the incident switch.
@Suite struct GatewayAdmissionTests {
    /// Fresh limiters per test: they hold state.
    static var tight: TrafficLimits { TrafficLimits(global: .init(unpaid: RateLimit(ratePerSecond: 1, burst: 2), paid: RateLimit(ratePerSecond: 1, burst: 3),
                                                   invalid: RateLimit(ratePerSecond: 1, burst: 2))) }

    @Test func unpaidRequestsAreLimitedWithIETFFields() async throws {
        let harness = GatewayHarness(limits: Self.tight)
        #expect(await harness.send("/datasets/a").status == .paymentRequired)
        #expect(await harness.send("/datasets/a").status == .paymentRequired)
        let limited = await harness.send("/datasets/a")
        #expect(limited.status == .tooManyRequests)
        #expect(limited.reason == "rate_limited_unpaid")
        #expect(limited.headerFields[.retryAfter] == "1")
        #expect(limited.headerFields[HTTPField.Name("RateLimit-Policy")!] == #""unpaid";q=2;w=2"#)
        #expect(limited.headerFields[HTTPField.Name("RateLimit")!]?.hasPrefix(#""unpaid";r=0;t="#) == true)
        #expect(limited.offerTokens.isEmpty)
        // Another client is not affected; the same client is again after a second.
        #expect(await harness.send("/datasets/a", apiKey: GatewayHarness.bobKey).status == .paymentRequired)
        harness.clock.advance(seconds: 1)
        #expect(await harness.send("/datasets/a").status == .paymentRequired)
        let events = try await harness.events(limited.correlationId)
        #expect(events.map(\.stage) == [.admit])
    }

    @Test func invalidProofsRunOutBeforeAnyFacilitatorCall() async throws {
        let harness = GatewayHarness(limits: Self.tight)
        let offered = try await harness.offerAndProof()
        harness.rail.update { $0.localVerdict = .invalid(.signatureInvalid, detail: "forged") }
        for nonce in ["0x10", "0x11"] {
            let refused = await harness.send("/datasets/prices", proof: harness.proof(nonce: nonce, offerToken: offered.proof.offerToken))
            #expect(refused.status == .paymentRequired)
        }
        harness.rail.update { $0.localVerdict = .valid(payer: "") }
        // Out of invalid-proof budget: even a good proof waits, and nothing reaches the facilitator.
        let blocked = await harness.send("/datasets/prices", proof: offered.proof)
        #expect(blocked.status == .tooManyRequests)
        #expect(blocked.reason == "rate_limited_invalid")
        #expect(harness.rail.verifyCalls == 0)
        #expect(harness.upstream.received.isEmpty)
    }

    /// Anyone can name any smart wallet as the payer of a proof whose signature only the facilitator can check: a flood
    /// of such proofs (each refused there) spends no budget of the named payer's, whose real payments go on, whether its
    /// signatures recover (an ordinary account) or are deferred too (the smart wallet itself).
    @Test func proofsNamingAPayerNobodyCheckedYetDoNotSpendThatPayersBudget() async throws {
        let harness = GatewayHarness(limits: TrafficLimits(global: .init(paid: RateLimit(ratePerSecond: 0.001, burst: 3))))
        let victim = "0xAbC0000000000000000000000000000000000001"
        harness.rail.update {
            $0.localVerdict = .signatureDeferred(payer: victim)
            $0.facilitator = .success(.invalid(.signatureInvalid, detail: "not the wallet's signature"))
        }
        for nonce in ["0x02", "0x03", "0x04"] {
            let (_, forged) = try await harness.offerAndProof(apiKey: GatewayHarness.bobKey, nonce: nonce)
            let refused = await harness.send("/datasets/prices", apiKey: GatewayHarness.bobKey, proof: forged)
            #expect(refused.status == .paymentRequired, "\(refused.text)")
        }
        for (nonce, verdict) in [("0x09", Verdict.valid(payer: victim)), ("0x0a", .signatureDeferred(payer: victim))] {
            harness.rail.update {
                $0.localVerdict = verdict
                $0.facilitator = .success(.valid(payer: victim))
            }
            let (_, real) = try await harness.offerAndProof(nonce: nonce)
            let paid = await harness.send("/datasets/prices", proof: real)
            #expect(paid.status == .ok, "\(verdict): \(paid.text)")
        }
    }

    @Test func twoInstancesSharingTheInvalidBudgetStopAKeyTogether() async throws {
        // Generous limits per instance; the shared budget (burst 2 + 0.1/s × 10 s = 3 per window) is what bites.
        let roomy = TrafficLimits(global: .init(invalid: RateLimit(ratePerSecond: 10, burst: 100)))
        let counter = SharedInvalidBudgetTests.Counter()
        let limit = RateLimit(ratePerSecond: 0.1, burst: 2)!
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let a = GatewayHarness(limits: roomy, sharedInvalid: SharedInvalidBudget(counter: counter, limit: limit, logger: quiet))
        let b = GatewayHarness(limits: roomy, sharedInvalid: SharedInvalidBudget(counter: counter, limit: limit, logger: quiet))
        for harness in [a, b] { harness.rail.update { $0.localVerdict = .invalid(.signatureInvalid, detail: "forged") } }
        var nonce = 0x20
        func forged(_ harness: GatewayHarness) async throws -> GatewayResponse {
            nonce += 1
            let offered = try await harness.offerAndProof(nonce: "0x\(String(nonce, radix: 16))")
            return await harness.send("/datasets/prices", proof: harness.proof(nonce: "0x\(String(nonce + 1000, radix: 16))",
                                                                                offerToken: offered.proof.offerToken))
        }
        // Four invalid proofs of one client, two at each instance: the fourth passes the cluster's allowance of three.
        for harness in [a, b, a, b] { #expect(try await forged(harness).status == .paymentRequired) }
        // B saw the count pass: even a good proof of that client waits there, and reaches no facilitator.
        b.rail.update { $0.localVerdict = .valid(payer: "") }
        let good = try await b.offerAndProof(nonce: "0x7001")
        let blocked = await b.send("/datasets/prices", proof: good.proof)
        #expect(blocked.status == .tooManyRequests && blocked.reason == "rate_limited_invalid")
        #expect(b.rail.verifyCalls == 0)
        // A learns at its next invalid proof, then refuses the client too; another client is untouched.
        #expect(try await forged(a).status == .paymentRequired)
        #expect(await a.send("/datasets/prices", proof: a.proof(nonce: "0x7002", offerToken: good.proof.offerToken)).status == .tooManyRequests)
        #expect(await a.send("/datasets/a", apiKey: GatewayHarness.bobKey).status == .paymentRequired)
    }

    @Test func theSameInvalidProofIsRefusedFromTheCacheWithoutVerifying() async throws {
        let harness = GatewayHarness()
        let offered = try await harness.offerAndProof()
        harness.rail.update { $0.localVerdict = .invalid(.signatureInvalid, detail: "forged") }
        #expect(await harness.send("/datasets/prices", proof: offered.proof).reason == "invalid_exact_evm_payload_signature")
        // The rail would now accept it, but the same bytes are refused from the cache.
        harness.rail.update { $0.localVerdict = .valid(payer: "") }
        let again = await harness.send("/datasets/prices", proof: offered.proof)
        #expect(again.status == .paymentRequired)
        #expect(again.reason == "invalid_exact_evm_payload_signature")
        #expect(harness.rail.verifyCalls == 0)
        // A different proof (other nonce) is checked normally.
        let other = await harness.send("/datasets/prices", proof: harness.proof(nonce: "0x99", offerToken: offered.proof.offerToken))
        #expect(other.status == .ok)
    }

    @Test func aRevokedClientIsRefusedAtOnce() async throws {
        let controls = OperatorControls()
        let harness = GatewayHarness(controls: controls)
        #expect(await harness.send("/datasets/a").status == .paymentRequired)
        controls.replace(with: ControlsSnapshot(revokedClients: ["alice": "leaked key"]))
        let refused = await harness.send("/datasets/a")
        #expect(refused.status == .unauthorized)
        #expect(refused.reason == "client_revoked")
        #expect(refused.offerTokens.isEmpty)
    }

    @Test func aRevokedPayerIsRefusedAndNotCharged() async throws {
        let controls = OperatorControls()
        let harness = GatewayHarness(controls: controls)
        let offered = try await harness.offerAndProof()
        controls.replace(with: ControlsSnapshot(revokedPayers: [offered.proof.payer.lowercased(): "sanctioned"]))
        let refused = await harness.send("/datasets/prices", proof: offered.proof)
        #expect(refused.status == .forbidden)
        #expect(refused.reason == "payer_revoked")
        #expect(harness.rail.verifyCalls == 0)
        #expect(harness.rail.settleCalls == 0)
        #expect(harness.upstream.received.isEmpty)
    }

    @Test func theIncidentSwitchStopsOffersAndSettlements() async throws {
        let controls = OperatorControls()
        let harness = GatewayHarness(controls: controls)
        let offered = try await harness.offerAndProof()
        controls.replace(with: ControlsSnapshot(routeIncidents: ["datasets": Incident(id: "inc_1", reason: "double charges", sinceMillis: 0)]))
        let noOffer = await harness.send("/datasets/a")
        #expect(noOffer.status == .serviceUnavailable)
        #expect(noOffer.reason == "incident")
        #expect(noOffer.headerFields[.retryAfter] != nil)
        #expect(noOffer.offerTokens.isEmpty)
        let noPayment = await harness.send("/datasets/prices", proof: offered.proof)
        #expect(noPayment.status == .serviceUnavailable)
        #expect(harness.rail.settleCalls == 0)
        // Free routes and other paid routes keep working.
        #expect(await harness.send("/health").status == .ok)
        #expect(await harness.send("/reports/q1").status == .paymentRequired)
        controls.replace(with: ControlsSnapshot())
        #expect(await harness.send("/datasets/prices", proof: offered.proof).status == .ok)
    }
}

@Suite struct GatewaySpendCapTests {
    @Test func aPaymentOverTheCapIsRefusedAndNotCharged() async throws {
        let cap = SpendCap(subject: .client, period: .day, network: GatewayHarness.network, asset: GatewayHarness.asset.address,
                           maximum: TokenAmount(atomic: "15000")!)
        let harness = GatewayHarness(spendCaps: [cap])
        let first = try await harness.offerAndProof(nonce: "0x01")
        #expect(await harness.send("/datasets/prices", proof: first.proof).status == .ok)
        let second = try await harness.offerAndProof(nonce: "0x02")
        let refused = await harness.send("/datasets/prices", proof: second.proof)
        #expect(refused.status == .forbidden)
        #expect(refused.reason == "spend_cap_exceeded")
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
        // Another client has its own budget.
        let bob = try await harness.offerAndProof(apiKey: GatewayHarness.bobKey, nonce: "0x03")
        #expect(await harness.send("/datasets/prices", apiKey: GatewayHarness.bobKey, proof: bob.proof).status == .ok)
    }

    /// A request stopped after holding its spend just before midnight (its claim left `reserved`, its hold kept); its
    /// retry after midnight takes the claim over and runs the hold again. The payment counts once, in the day its
    /// offer was issued, not in both days.
    @Test func aTakeoverAfterMidnightCountsThePaymentOnceInTheDayItsOfferWasIssued() async throws {
        let cap = SpendCap(subject: .client, period: .day, network: GatewayHarness.network, asset: GatewayHarness.asset.address,
                           maximum: TokenAmount(atomic: "100000")!)
        let harness = GatewayHarness(spendCaps: [cap])
        let day = Int64(86_400)
        harness.clock.advance(seconds: day - harness.clock.nowSeconds % day - 10)
        let issuedOn = RFC3339.dayKey(millis: harness.clock.nowMillis())
        let (_, proof) = try await harness.offerAndProof()
        harness.upstream.update { $0.status = .serviceUnavailable }
        await harness.store.fail(.release)
        #expect(await harness.send("/datasets/prices", proof: proof).status != .ok)
        await harness.store.recover()
        harness.upstream.update { $0.status = .ok }
        harness.clock.advance(seconds: 20)
        let retriedOn = RFC3339.dayKey(millis: harness.clock.nowMillis())
        try #require(issuedOn != retriedOn)

        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)

        #expect(harness.rail.settleCalls == 1)
        let totals = try await harness.store.spendTotals(subject: "client:alice")
        let bucket = "\(GatewayHarness.network)/\(GatewayHarness.asset.address.lowercased())/day:"
        #expect(totals == [bucket + issuedOn: GatewayHarness.price.atomic], "\(totals)")
    }
}

@Suite struct GatewayQuotaTests {
    @Test func anOrganisationSharesItsQuota() async throws {
        // Alice and Bob both act for "acme": two requests a day between them.
        let harness = GatewayHarness(quotas: [Quota(subject: .organisation, period: .day, unit: "request", maximum: 2)])
        for (key, nonce) in [(GatewayHarness.aliceKey, "0x01"), (GatewayHarness.bobKey, "0x02")] {
            let offered = try await harness.offerAndProof(apiKey: key, nonce: nonce)
            #expect(await harness.send("/datasets/prices", apiKey: key, proof: offered.proof).status == .ok)
        }
        let third = try await harness.offerAndProof(nonce: "0x03")
        let refused = await harness.send("/datasets/prices", proof: third.proof)
        #expect(refused.status == .forbidden)
        #expect(refused.reason == "quota_exceeded")
        #expect(harness.rail.settleCalls == 2)
        // The next day the quota is whole again.
        harness.clock.advance(seconds: 86_400)
        let tomorrow = try await harness.offerAndProof(nonce: "0x04")
        #expect(await harness.send("/datasets/prices", proof: tomorrow.proof).status == .ok)
    }
}

@Suite struct GatewayPayerListTests {
    @Test func onlyAllowedPayersMayPay() async throws {
        let allowed = "0xAbC0000000000000000000000000000000000001"
        let harness = GatewayHarness(payerAllowList: [allowed])
        let offered = try await harness.offerAndProof()
        #expect(await harness.send("/datasets/prices", proof: offered.proof).status == .ok)
        let other = try await harness.offerAndProof(nonce: "0x02")
        let stranger = harness.proof(nonce: "0x02", payer: "0x9990000000000000000000000000000000000009", offerToken: other.proof.offerToken)
        let refused = await harness.send("/datasets/prices", proof: stranger)
        #expect(refused.status == .forbidden)
        #expect(refused.reason == "payer_revoked")
        #expect(harness.rail.settleCalls == 1)
    }
}

@Suite struct GatewayClosedRouteTests {
    @Test func noOfferWhileNoFacilitatorCanVerify() async throws {
        let harness = GatewayHarness()
        harness.rail.update { $0.ready = false }
        let closed = await harness.send("/datasets/a")
        #expect(closed.status == .serviceUnavailable)
        #expect(closed.reason == "facilitator_unavailable")
        #expect(closed.headerFields[.retryAfter] != nil)
        #expect(closed.offerTokens.isEmpty)
        harness.rail.update { $0.ready = true }
        #expect(await harness.send("/datasets/a").status == .paymentRequired)
    }
}

@Suite struct GatewayRevocationUnderLoadTests {
    @Test func nothingIsDeliveredToARevokedClientOnceTheRevocationLands() async throws {
        let controls = OperatorControls()
        let harness = GatewayHarness(controls: controls)
        let revokedAfter = 20
        let statuses = await withTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<60 {
                group.addTask {
                    if index == revokedAfter { controls.replace(with: ControlsSnapshot(revokedClients: ["alice": "leaked"])) }
                    let offered = await harness.send("/datasets/prices")
                    guard offered.status == .paymentRequired, let token = offered.offerTokens.first else {
                        return (offered.status.code, controls.isRevoked(client: "alice"))
                    }
                    let paid = await harness.send("/datasets/prices", proof: harness.proof(nonce: "0x\(index + 100)", offerToken: token))
                    return (paid.status.code, controls.isRevoked(client: "alice"))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        // After the switch every answer is a 401; before it, payments went through.
        #expect(statuses.contains { $0.0 == 401 })
        let settledBefore = harness.rail.settleCalls
        let late = await harness.send("/datasets/prices")
        #expect(late.status == .unauthorized)
        #expect(late.reason == "client_revoked")
        #expect(harness.rail.settleCalls == settledBefore)
        #expect(statuses.allSatisfy { $0.0 == 200 || $0.0 == 401 })
    }

    @Test func anUnknownKeyIsAuditedByItsPrefixOnly() async throws {
        let harness = GatewayHarness()
        let denied = await harness.send("/datasets/prices", apiKey: "sk_live_secretvalue")
        let events = try await harness.events(denied.correlationId)
        #expect(events.first?.details["key_prefix"] == "sk_l…")
        #expect(!events.contains { $0.details.values.contains { $0.contains("secretvalue") } })
    }
}
