import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore

/// Settling a delivered answer: recorded, unrecorded, never sent, pending, lost or refused.
extension JourneyTests {
    /// A journey whose paid answer was delivered by the upstream; the next action settles it.
    static func settling() -> (Journey, Journey.Action) {
        var journey = forwarding()
        let answer = UpstreamResponse(status: .ok, headerFields: [.contentType: "application/json"], body: Array(#"{"p":1}"#.utf8))
        let action = journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 3), at: now)
        return (journey, action)
    }

    static let attempt = SettlementAttempt(authority: "http://facilitator.test", request: Array("body".utf8))

    @Test func aDeliveredAnswerIsSettledWithItsIntentRecordedThenServedWithItsReceipt() {
        var (journey, action) = Self.settling()
        guard case .settle(_, let intent, let events) = action else {
            Issue.record("a delivered answer is settled")
            return
        }
        // The intent keeps the answer, so a settlement resolved later can still deliver it.
        #expect(intent.response?.body == Array(#"{"p":1}"#.utf8))
        #expect(intent.metering?.usage.quantity == 1)
        #expect(intent.correlationId == "tg_offer")
        #expect(events.last?.stage == .forward)
        guard case .record(_, let payment, let stored, _, delivery: let recordedDelivery?, let recordEvents) =
            journey.next(.settleAnswered(.answered(Self.settled, attempt: Self.attempt), receipt: Self.receipt), at: Self.now) else {
            Issue.record("a settled payment is recorded before it is served")
            return
        }
        #expect(payment.transaction == "0xtx")
        #expect(stored?.correlationId == "tg_offer")
        // The events before the intent were committed with it: only what follows is recorded now.
        #expect(recordEvents.map(\.stage) == [.settle, .meter, .respond])
        guard case .respond(.delivered(let response)) = journey.next(.recorded(true), at: Self.now) else {
            Issue.record("a recorded payment is served")
            return
        }
        #expect(response.headerFields[HTTPField.Name("Receipt")!] == "r")
        // The door is told which recorded delivery it carries: only its loss may reopen the flow.
        #expect(response.settledDelivery?.correlationId == "tg_offer")
        #expect(response.settledDelivery?.token == recordedDelivery)
    }

    @Test func anUnrecordedSettlementIsNotServed() {
        var (journey, _) = Self.settling()
        _ = journey.next(.settleAnswered(.answered(Self.settled, attempt: Self.attempt), receipt: [:]), at: Self.now)
        guard case .respond(.notRecorded("0xtx", delivery: false)) = journey.next(.recorded(false), at: Self.now) else {
            Issue.record("nothing unrecorded is served")
            return
        }
    }

    @Test func aSettlementNeverSentIsReleasedAndOneInDoubtIsHeld() {
        var suspended = Self.settling().0
        guard case .respond(.release(_, _, then: .deny(let incident))) = suspended.next(.settleAnswered(.suspended(incident: "inc-9"), receipt: [:]),
                                                                                        at: Self.now) else {
            Issue.record("an incident switched on in flight settles nothing and releases the claim")
            return
        }
        #expect(incident.extra["incident"] == "inc-9")

        var unreachable = Self.settling().0
        guard case .respond(.release(_, _, then: .deny(let down))) =
            unreachable.next(.settleAnswered(.railFailed(ScriptedRail.outage, intentRecorded: false), receipt: [:]), at: Self.now) else {
            Issue.record("a facilitator never reached: nothing was sent, the claim is released")
            return
        }
        #expect(down.reason == .facilitatorUnavailable)

        var lost = Self.settling().0
        guard case .respond(.finishClaim(_, .unknown, let events, then: .deny(let unknown))) =
            lost.next(.settleAnswered(.railFailed(ScriptedRail.lostAnswer, intentRecorded: true), receipt: [:]), at: Self.now) else {
            Issue.record("a lost answer holds the claim as unknown, never released, never a 402")
            return
        }
        #expect(unknown.status == .serviceUnavailable)
        #expect(events.map(\.reason) == ["settlement_unknown"])

        var unrecorded = Self.settling().0
        guard case .respond(.release(_, _, then: .deny(let store))) =
            unrecorded.next(.settleAnswered(.intentNotRecorded(.init("disk"), intentRecorded: false), receipt: [:]), at: Self.now) else {
            Issue.record("an intent that cannot be recorded is never sent; the claim is released")
            return
        }
        #expect(store.reason == .storeUnavailable)
    }

    @Test func aPendingSettlementIsAskedOnceMoreThenHeld() {
        var journey = Self.settling().0
        let pending = Settlement(status: .pending, transaction: "0xp", network: GatewayHarness.network, payer: Self.payer)
        guard case .resettle(let attempt) = journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now) else {
            Issue.record("a pending settlement is asked again with the same attempt")
            return
        }
        #expect(attempt == Self.attempt)
        guard case .respond(.finishClaim(_, .pending, let events, _)) =
            journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now) else {
            Issue.record("still pending: held, never asked a third time")
            return
        }
        #expect(events.map(\.reason) == ["settlement_pending", "settlement_pending"])

        var lostOnRetry = Self.settling().0
        _ = lostOnRetry.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now)
        guard case .respond(.finishClaim(_, .unknown, let lostEvents, _)) =
            lostOnRetry.next(.settleAnswered(.railFailed(ScriptedRail.lostAnswer, intentRecorded: true), receipt: [:]), at: Self.now) else {
            Issue.record("a resettle that gets no answer is unknown")
            return
        }
        #expect(lostEvents.map(\.reason) == ["settlement_pending", "settlement_unknown"])
    }

    /// The facilitator answered pending, then could not be reached for the second ask: the first `/settle` was sent and
    /// accepted, so the claim is held for the reconciler, never released (which deleted the claim and its intent, and
    /// told the client that nothing was charged).
    @Test func aPendingSettlementWhoseSecondAskFindsNoFacilitatorIsHeldNotReleased() {
        let pending = Settlement(status: .pending, transaction: "0xp", network: GatewayHarness.network, payer: Self.payer)
        for unreachable in [ScriptedRail.outage, RailFailure(.notReady, "no connection free", authority: "f")] {
            #expect(!unreachable.reachedAuthority)
            var journey = Self.settling().0
            _ = journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now)
            guard case .respond(.finishClaim(_, .unknown, let events, _)) =
                journey.next(.settleAnswered(.railFailed(unreachable, intentRecorded: true), receipt: [:]), at: Self.now) else {
                Issue.record("a pending settlement left without a claim (\(unreachable))")
                continue
            }
            #expect(events.map(\.reason) == ["settlement_pending", "settlement_unknown"])
        }
    }

    @Test func aRefusedSettlementEndsTheClaimWithTheRailsReceipt() {
        var journey = Self.settling().0
        let failed = Settlement(status: .failed, transaction: "", network: GatewayHarness.network, payer: Self.payer,
                                errorReason: "insufficient_funds", errorMessage: "no funds")
        guard case .respond(.finishClaim(_, .failed, let events, then: .settlementRefused(let receipt))) =
            journey.next(.settleAnswered(.answered(failed, attempt: Self.attempt), receipt: Self.receipt), at: Self.now) else {
            Issue.record("a refused settlement ends the claim and answers 402 with the receipt")
            return
        }
        #expect(events.map(\.reason) == ["insufficient_funds", "settlement_failed"])
        #expect(receipt == Self.receipt)
    }

    /// A refusal is the end of a claim only when it proves nothing moved. A reason that is no x402 code (a facilitator's
    /// unexpected error after it may have sent the transfer), or, on the second ask after `pending`, a refusal the
    /// first attempt landing would itself cause (the nonce used, the window passed, the balance spent), holds the claim
    /// as unknown with a 503 "do not pay again": a 402 would make a stock client pay a second time.
    @Test func aRefusalThatDoesNotProveNothingMovedHoldsTheClaim() {
        func failed(_ reason: String) -> Settlement {
            Settlement(status: .failed, transaction: "", network: GatewayHarness.network, payer: Self.payer, errorReason: reason, errorMessage: "m")
        }
        let pending = Settlement(status: .pending, transaction: "0xp", network: GatewayHarness.network, payer: Self.payer)
        let nonceUsed = "invalid_exact_evm_nonce_already_used"
        let cases: [(reason: String, afterPending: Bool, held: Bool)] = [
            ("unexpected_settle_error", false, true),
            ("settlement_failed", false, true),
            ("insufficient_funds", false, false),
            ("invalid_exact_evm_payload_signature", false, false),
            // First sent and told "used": spent elsewhere (a replay of an authorization used at another gateway).
            (nonceUsed, false, false),
            (nonceUsed, true, true),
            ("invalid_exact_evm_payload_authorization_valid_before", true, true),
            ("insufficient_funds", true, true),
            ("invalid_exact_evm_payload_signature", true, false),
        ]
        for (reason, afterPending, held) in cases {
            var journey = Self.settling().0
            if afterPending {
                guard case .resettle = journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now) else {
                    Issue.record("pending is asked again")
                    continue
                }
            }
            let next = journey.next(.settleAnswered(.answered(failed(reason), attempt: Self.attempt), receipt: Self.receipt), at: Self.now)
            switch next {
            case .respond(.finishClaim(_, .unknown, let events, then: .deny(let denial))) where held:
                #expect(denial.status == .serviceUnavailable && denial.reason == .settlementUnknown, "\(reason)")
                #expect(denial.detail.contains("do not pay again"))
                #expect(events.last?.reason == Reason.settlementUnknown.rawValue && events.last?.details["refusal"] == reason)
            case .respond(.finishClaim(_, .failed, _, then: .settlementRefused)) where !held:
                break
            default:
                Issue.record("\(reason) after pending \(afterPending): expected \(held ? "held as unknown" : "failed"), got \(next)")
            }
        }
    }
}
