import Foundation
import HTTPTypes
import Synchronization
import Testing
import TollgateCore
import TollgateStoreConformance

/// The facilitator verifies while the claim is written (`Gateway.Settings.verifiesWithClaim`): a paid request waits for
/// the slower of the two, not for both in turn. Nothing goes upstream before both answered, whatever either says, and
/// no replay, copy or second authorization of a payment this gateway has claimed reaches the facilitator.
@Suite struct GatewayVerifyWithClaimTests {
    /// The claim waits (at most 30 s: a loaded machine may be slow to start the verification) until the facilitator has been asked: done one after the other, it would never be.
    /// Returns the number of verifications seen when the claim went on.
    static func watchClaim(_ harness: GatewayHarness, waitForVerification: Bool) async -> SeenCalls {
        let seen = SeenCalls()
        let rail = harness.rail
        await harness.store.gate(.reserve) {
            let deadline = ContinuousClock.now + .seconds(30)
            while waitForVerification, rail.verifyCalls == 0, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(1)) }
            seen.count.withLock { $0 = rail.verifyCalls }
        }
        return seen
    }

    @Test func theFacilitatorIsAskedWhileTheClaimIsWritten() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        let seen = await Self.watchClaim(harness, waitForVerification: true)

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .ok)
        #expect(seen.count.withLock { $0 } == 1, "the verification was under way while the claim was written")
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
        #expect(try await harness.stages(offer.correlationId) == ["offer", "proof", "verify", "reserve", "facilitator_verify", "forward",
                                                                  "settle", "settle", "meter", "respond"], "the audit trail reads as before")
    }

    @Test func withTheSettingOffTheFacilitatorIsAskedOnlyOnceTheProofIsClaimed() async throws {
        let harness = GatewayHarness(verifiesWithClaim: false)
        let (_, proof) = try await harness.offerAndProof()
        let seen = await Self.watchClaim(harness, waitForVerification: false)

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .ok)
        #expect(seen.count.withLock { $0 } == 0)
        #expect(harness.rail.verifyCalls == 1)
    }

    @Test func aProofClaimedElsewhereIsRefusedWhateverTheFacilitatorSaysAndItsCopiesAreNotVerifiedAgain() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        // Another instance sharing the store settled this authorization (this gateway never saw it).
        let elsewhere = Reservation(key: proof.key, correlationId: "tg_elsewhere", clientId: "alice", resource: "datasets",
                                    validBefore: Int64.max, paymentIdentifier: nil, fingerprint: "", offerToken: "", payload: "")
        #expect(try await harness.store.reserve(elsewhere, events: []) == .reserved)
        try await harness.store.finish(proof.key, state: .settled, payment: nil, response: nil, metering: nil, delivery: .next(), events: [])

        let first = await harness.send("/datasets/prices", proof: proof)
        var respelled = HTTPFields()
        respelled[ScriptedRail.proofField] = " " + proof.header
        let copies = [await harness.send("/datasets/prices", proof: proof),
                      await harness.send("/datasets/prices", fields: respelled)]

        for response in [first] + copies {
            #expect(response.status == .paymentRequired)
            #expect(response.reason == "invalid_exact_evm_nonce_already_used")
        }
        #expect(harness.rail.verifyCalls == 1, "the first claim was verified alongside (its answer unused); its copies were not")
        #expect(harness.rail.settleCalls == 0)
        #expect(harness.upstream.received.isEmpty)
    }

    @Test func replaysCopiesAndOtherAuthorizationsOfAPaidOfferNeverReachTheFacilitator() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)

        var respelled = HTTPFields()
        respelled[ScriptedRail.proofField] = proof.header.replacingOccurrences(of: ",", with: ", ")
        var other = proof
        other.nonce = "0x02"
        var answers = [await harness.send("/datasets/prices", proof: proof), await harness.send("/datasets/prices", fields: respelled),
                       await harness.send("/datasets/prices", apiKey: GatewayHarness.bobKey, proof: proof)]
        for _ in 0..<5 { answers.append(await harness.send("/datasets/prices", proof: other)) }

        #expect(answers[0].status == .ok, "the owner's retry gets its stored answer")
        #expect(answers[1].status == .ok, "in any spelling")
        #expect(answers[2].status == .paymentRequired, "another client's copy")
        #expect(answers.dropFirst(3).allSatisfy { $0.status == .conflict }, "other authorizations for the paid offer")
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
    }

    @Test func aFacilitatorRefusalHeardDuringTheClaimGivesTheClaimBackAndForwardsNothing() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.facilitator = .success(.invalid(Reason("invalid_exact_evm_insufficient_funds"), detail: "balance 0")) }
        let seen = await Self.watchClaim(harness, waitForVerification: true)

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(seen.count.withLock { $0 } == 1)
        #expect(response.status == .paymentRequired)
        #expect(response.reason == "invalid_exact_evm_insufficient_funds")
        #expect(await harness.store.state(of: proof.key) == nil, "the claim is given back")
        #expect(harness.upstream.received.isEmpty)
        #expect(harness.rail.settleCalls == 0)
    }

    /// The gateway's own share of a paid request leaves out the facilitator's time even when it ran alongside the claim.
    @Test func theVerificationRunningAlongsideTheClaimCountsAsWaiting() async throws {
        let timings = RecordedTimings()
        let harness = GatewayHarness(timings: timings)
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.onVerify = { try? await Task.sleep(for: .milliseconds(500)) } }

        let started = ContinuousClock.now
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)
        let total = ContinuousClock.now - started
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok, "a retry: no facilitator, no figure")

        let overheads = timings.overheads.withLock { $0 }
        #expect(overheads.count == 1)
        #expect(overheads.allSatisfy { $0 <= total - .milliseconds(500) }, "\(overheads) of \(total)")
    }
}

final class SeenCalls: Sendable {
    let count = Mutex<Int?>(nil)
}

final class RecordedTimings: RequestTimings {
    let overheads = Mutex<[Duration]>([])
    func paidRequestAnswered(resource: String, overhead: Duration) { overheads.withLock { $0.append(overhead) } }
}
