import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore

/// The facilitator's verification, spend holds, `settle: before` routes and forwarding uncharged failures.
extension JourneyTests {
    // MARK: facilitator, holds, forward, settle

    @Test func theFacilitatorsRefusalOrSilenceGivesTheClaimBack() {
        var refused = Self.claimed()
        guard case .respond(.release(_, let events, then: .refuse(_, .signatureInvalid, _, _, _, true))) =
            refused.next(.facilitatorAnswered(.success(.invalid(.signatureInvalid, detail: "no"))), at: Self.now) else {
            Issue.record("a refused proof is released and answered with a fresh 402")
            return
        }
        #expect(events.map(\.stage) == [AuditEvent.Stage.facilitatorVerify])
        var silent = Self.claimed()
        guard case .respond(.release(_, _, then: .unavailable(.facilitatorUnavailable, _, _))) =
            silent.next(.facilitatorAnswered(.failure(.init("timeout"))), at: Self.now) else {
            Issue.record("a silent facilitator is a 503 and the claim is given back")
            return
        }
    }

    @Test func spendIsHeldAgainstCapsAndAnExceededCapChargesNothing() {
        let cap = SpendCap(subject: .client, period: .day, network: GatewayHarness.network, asset: GatewayHarness.asset.address.lowercased(),
                           maximum: TokenAmount(atomic: "15000")!)
        let settings = Self.settings(spendCaps: [cap])
        var journey = Self.claimed(settings: settings)
        guard case .holdSpend(let holds, "tg_offer") = journey.next(.facilitatorAnswered(.success(.valid(payer: Self.payer))), at: Self.now) else {
            Issue.record("a capped payment holds spend before forwarding")
            return
        }
        #expect(holds.map(\.subject) == ["client:alice"])
        guard case .respond(.release(_, _, then: .deny(let denial))) = journey.next(.spendHeld(.success(holds[0])), at: Self.now) else {
            Issue.record("an exceeded cap releases the claim")
            return
        }
        #expect(denial.reason == .spendCapExceeded)
        #expect(denial.status == .forbidden)

        var failing = Self.claimed(settings: settings)
        _ = failing.next(.facilitatorAnswered(.success(.valid(payer: Self.payer))), at: Self.now)
        guard case .respond(.release(_, _, then: .unavailable(.storeUnavailable, _, _))) = failing.next(.spendHeld(.failure(.init("x"))), at: Self.now) else {
            Issue.record("a hold that cannot be recorded is a 503")
            return
        }
    }

    static let settled = Settlement(status: .settled, transaction: "0xtx", network: GatewayHarness.network, payer: payer)
    static let receipt: HTTPFields = [HTTPField.Name("Receipt")!: "r"]

    /// A journey on a `settle: before` route, its proof claimed, verified and about to be settled.
    static func settlingFirst(automaticRefunds: Bool = true) -> (Journey, Journey.Action) {
        var route = GatewayHarness.datasets
        route.pricing?.metering = Metering(settle: .before)
        var settings = settings(routes: RouteTable([route]))
        settings.automaticRefunds = automaticRefunds
        var journey = claimed(settings: settings)
        let action = journey.next(.facilitatorAnswered(.success(.valid(payer: payer))), at: now)
        return (journey, action)
    }

    @Test func settleBeforeSettlesRecordsThenForwards() {
        var (journey, action) = Self.settlingFirst()
        guard case .settle(_, let intent, _) = action else {
            Issue.record("settle: before settles first")
            return
        }
        #expect(intent.response == nil && intent.metering == nil)
        guard case .record(_, let payment, nil, nil, delivery: nil, let events) = journey.next(.settleAnswered(.answered(Self.settled, attempt: nil), receipt: Self.receipt),
                                                                              at: Self.now) else {
            Issue.record("the settlement is recorded before anything is forwarded")
            return
        }
        #expect(payment.transaction == "0xtx")
        #expect(events.last?.stage == .settle)
        guard case .forward = journey.next(.recorded(true), at: Self.now) else {
            Issue.record("then the request is forwarded")
            return
        }
        let answer = UpstreamResponse(status: .ok, headerFields: [:], body: Array("rows".utf8))
        guard case .recordDelivery(_, let stored, _, _, let deliveryEvents) = journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 2), at: Self.now) else {
            Issue.record("a delivered answer's delivery is recorded")
            return
        }
        #expect(stored?.body == answer.body)
        #expect(deliveryEvents.map(\.stage) == [.forward, .meter, .respond])
        guard case .respond(.delivered(let response)) = journey.next(.recorded(true), at: Self.now) else {
            Issue.record("then served with the receipt")
            return
        }
        #expect(response.headerFields[HTTPField.Name("Receipt")!] == "r")
    }

    @Test func settleBeforeRefundsWhatIsNotDelivered() {
        var (journey, _) = Self.settlingFirst()
        _ = journey.next(.settleAnswered(.answered(Self.settled, attempt: nil), receipt: Self.receipt), at: Self.now)
        _ = journey.next(.recorded(true), at: Self.now)
        guard case .refund(let request?, let events) = journey.next(.upstreamAnswered(.failure(.init("down")), elapsedMillis: 1), at: Self.now) else {
            Issue.record("a settled request that was not delivered is refunded")
            return
        }
        #expect(request.automatic && request.correlationId == "tg_offer")
        // Only while nothing delivered it: a held-up owner's refund never lands after another instance's retry delivered it.
        #expect(request.onlyIfUndelivered)
        #expect(events.last?.stage == .forward)
        let refund = Refund(id: "rf_1", correlationId: "tg_offer", kind: .payout, state: .pendingPayout, clientId: "alice", payer: Self.payer,
                            resource: "datasets", amount: "10000", asset: "usdc", network: GatewayHarness.network, unit: "request",
                            reason: "not delivered", actor: "tollgate", automatic: true, createdAtMillis: Self.now)
        let denial = journey.next(.refunded(.success(refund)), at: Self.now).denial
        #expect(denial?.status == .badGateway)
        #expect(denial?.fields[.tollgateRefund] == "rf_1")
        #expect(denial?.detail.contains("refund rf_1") == true)

        var manual = Self.settlingFirst(automaticRefunds: false).0
        _ = manual.next(.settleAnswered(.answered(Self.settled, attempt: nil), receipt: Self.receipt), at: Self.now)
        _ = manual.next(.recorded(true), at: Self.now)
        guard case .refund(nil, _) = manual.next(.upstreamAnswered(.failure(.init("down")), elapsedMillis: 1), at: Self.now) else {
            Issue.record("with automatic refunds off no refund is recorded")
            return
        }
        #expect(manual.next(.refunded(nil), at: Self.now).denial?.extra["refund"] == "manual_review")
    }

    static func forwarding() -> Journey {
        var journey = claimed()
        let action = journey.next(.facilitatorAnswered(.success(.valid(payer: payer))), at: now)
        guard case .forward(let contract) = action else { fatalError("expected forward, got \(action)") }
        precondition(contract.client == "alice" && contract.correlationId == "tg_offer")
        return journey
    }

    @Test func whatIsNotDeliveredIsNotCharged() {
        var silent = Self.forwarding()
        guard case .respond(.release(_, let events, then: .deny(let denial))) =
            silent.next(.upstreamAnswered(.failure(.init("refused")), elapsedMillis: 3), at: Self.now) else {
            Issue.record("an upstream that does not answer is not charged")
            return
        }
        #expect(denial.status == .badGateway)
        #expect(events.last?.reason == "upstream_unavailable")

        var failing = Self.forwarding()
        let answer = UpstreamResponse(status: .internalServerError, headerFields: [:], body: [])
        guard case .respond(.release(_, let failEvents, then: .passedOn(let passed, _, _, _))) =
            failing.next(.upstreamAnswered(.success(answer), elapsedMillis: 3), at: Self.now) else {
            Issue.record("a failing upstream's answer is passed on uncharged")
            return
        }
        #expect(passed.status == .internalServerError)
        #expect(failEvents.last?.details["settled"] == "false")
    }
}
